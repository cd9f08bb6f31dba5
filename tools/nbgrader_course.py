"""Create an nbgrader course directory for the lessons, ready to grade out of the box.

    .venv/bin/python tools/nbgrader_course.py grading/                 # every lesson
    .venv/bin/python tools/nbgrader_course.py grading/ notebooks/02_*.ipynb
    cd grading && ../.venv/bin/nbgrader generate_assignment 02_relu

writes into DIR (created if missing):

- ``nbgrader_config.py``: the course id, a per-cell time limit for autograding (nbgrader's
  own default is 30 s, too short for the lessons that train), and a ``python3`` kernel
  that is the Python running nbgrader -- so when nbgrader is the course environment's
  (``.venv/bin/nbgrader``), the grading kernel imports ``npcore`` and ``selfcheck`` whatever
  other ``python3`` kernels the machine has (a user's ``~/.local/share/jupyter/kernels``
  would otherwise win). It also passes ``MNIST_NPZ`` to the kernels: the value given with
  ``--mnist``, else the one in the environment when this tool ran, unless the environment
  of the nbgrader run sets its own.
- ``kernels/python3/kernel.json``: that kernel (``python`` in a kernel spec means "the
  Python that starts the kernel", i.e. nbgrader's); ``--threads N`` writes
  ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` = N into it, for a
  shared machine.
- ``source/<lesson>/<lesson>.ipynb``: each lesson, copied from notebooks/ (the solved
  edition with its nbgrader metadata), plus the file an earlier lesson writes that it
  reads, when notebooks/ has one: lesson 07 reads lesson 06's ``mnist_784_10_10.npz``,
  lesson 10 lesson 09's ``mlp_final.npz``. nbgrader releases such files with the lesson
  and copies them into every submission it autogrades; without them, lesson 07 trains the
  network itself (about 40 s more per student) and lesson 10 uses its default recipe.

An existing DIR is updated: nbgrader_config.py, the kernel and the source notebooks are
rewritten; the gradebook and the students' folders are left alone. A bad argument is
refused in one line on stderr, with exit status 2, before anything is written.
"""
import argparse
import glob
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS_DIR = os.path.join(ROOT, "notebooks")
COURSE_ID = "mnist-numpy"
CELL_TIMEOUT = 900                        # seconds per cell; nbval's limit in pytest.ini
# Files a lesson reads that an earlier lesson writes next to itself (lesson number -> names).
READS = {"07": ["mnist_784_10_10.npz"], "10": ["mlp_final.npz"]}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

CONFIG = '''\
# nbgrader configuration of the course, written by tools/nbgrader_course.py (rerun it
# rather than edit this file by hand). Run nbgrader from this folder with the course
# environment's nbgrader (.venv/bin/nbgrader), so the grading kernel has npcore & co.
import os
import sys

c = get_config()  # noqa: F821 (given by nbgrader when it reads this file)
c.CourseDirectory.course_id = {course_id!r}

# nbgrader executes each notebook with the kernel named in the source notebook
# ("python3") and stops a cell after Execute.timeout seconds (nbgrader's default: 30).
c.Execute.timeout = {timeout}

# The "python3" kernel: kernels/python3 in this folder comes first on Jupyter's path, and
# its command "python" means the Python that runs nbgrader.
here = os.path.dirname(os.path.abspath(__file__))
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    [here] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])

# nbgrader runs the command `alembic` for its gradebook: the one beside this Python.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

# The lessons read MNIST from this file (an environment variable set for the run wins).
{mnist_line}
'''


class CourseError(ValueError):
    """A bad argument: the tool writes nothing and exits with status 2."""


def kernel_spec(threads=None):
    spec = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (the course environment)", "language": "python",
            "metadata": {"debugger": True}}
    if threads:
        spec["env"] = {name: str(threads) for name in THREAD_VARIABLES}
    return spec


def config_text(course_id=COURSE_ID, timeout=CELL_TIMEOUT, mnist=None):
    mnist_line = (f'os.environ.setdefault("MNIST_NPZ", {mnist!r})' if mnist else
                  "# (MNIST_NPZ was not set when this file was written: set it before grading)")
    return CONFIG.format(course_id=course_id, timeout=timeout, mnist_line=mnist_line)


def lesson_files(path):
    """The extra files lesson `path` reads from notebooks/ that exist there."""
    number = os.path.basename(path)[:2]
    names = READS.get(number, [])
    folder = os.path.dirname(os.path.abspath(path))
    return [os.path.join(folder, name) for name in names if os.path.exists(os.path.join(folder, name))]


def plan(directory, paths):
    """Check every argument; return [(source notebook, assignment id, extra files)]."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CourseError(f"{directory} exists and is not a folder")
    if os.path.realpath(directory) in (os.path.realpath(ROOT), os.path.realpath(LESSONS_DIR)):
        raise CourseError(f"{directory} is the repository or its lessons' folder: choose a folder "
                          f"of its own for the course")
    lessons = []
    for path in paths:
        if not (os.path.isfile(path) and path.endswith(".ipynb")):
            raise CourseError(f"{path}: no such notebook")
        lessons.append((path, os.path.splitext(os.path.basename(path))[0], lesson_files(path)))
    names = [name for _, name, _ in lessons]
    if len(set(names)) != len(names):
        raise CourseError("two notebooks with the same name")
    return lessons


def make_course(directory, paths, course_id=COURSE_ID, timeout=CELL_TIMEOUT, mnist=None,
                threads=None):
    """Write the course directory (see the module docstring).

    Returns [(assignment id, files copied beside it, files it reads that were missing)]."""
    lessons = plan(directory, paths)
    mnist = mnist or os.environ.get("MNIST_NPZ")
    if mnist:
        mnist = os.path.abspath(mnist)
    os.makedirs(os.path.join(directory, "kernels", "python3"), exist_ok=True)
    with open(os.path.join(directory, "nbgrader_config.py"), "w", encoding="utf-8") as file:
        file.write(config_text(course_id, timeout, mnist))
    with open(os.path.join(directory, "kernels", "python3", "kernel.json"), "w", encoding="utf-8") as file:
        json.dump(kernel_spec(threads), file, indent=1)
        file.write("\n")
    for path, name, extra in lessons:
        target = os.path.join(directory, "source", name)
        os.makedirs(target, exist_ok=True)
        shutil.copyfile(path, os.path.join(target, name + ".ipynb"))
        for file in extra:
            shutil.copyfile(file, os.path.join(target, os.path.basename(file)))
    return [(name, [os.path.basename(f) for f in extra],
             [n for n in READS.get(name[:2], []) if n not in map(os.path.basename, extra)])
            for _, name, extra in lessons]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="the course directory to create or update")
    parser.add_argument("notebooks", nargs="*",
                        help="lessons (default: notebooks/[0-9][0-9]_*.ipynb)")
    parser.add_argument("--course-id", default=COURSE_ID)
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT,
                        help=f"seconds a cell may run when autograding (default {CELL_TIMEOUT})")
    parser.add_argument("--mnist", help="path of mnist.npz for the grading kernels "
                                        "(default: $MNIST_NPZ)")
    parser.add_argument("--threads", type=int,
                        help="limit the grading kernels' BLAS/OpenMP threads to N")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(glob.glob(os.path.join(LESSONS_DIR, "[0-9][0-9]_*.ipynb")))
    try:
        lessons = make_course(args.directory, paths, args.course_id, args.timeout, args.mnist,
                            args.threads)
    except (CourseError, OSError) as exc:
        print(f"nbgrader_course: {exc}; nothing written", file=sys.stderr)
        return 2
    for name, extra, missing in lessons:
        note = (f" (with {', '.join(extra)})" if extra else "") + \
               (f" (no {', '.join(missing)} beside the lesson: see the teachers' guide)"
                if missing else "")
        print(f"{os.path.join(args.directory, 'source', name)}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
