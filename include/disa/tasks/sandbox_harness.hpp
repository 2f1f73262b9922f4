// Internal to the sandbox (src/tasks/sandbox*.cpp): the Python harness that runs inside
// the sandbox and the protocol between it and the verdict (src/tasks/sandbox_verdict.cpp).
// The harness reads the program and the test, deletes the test and the completion
// marker from the working directory (so the program cannot read them), runs the program
// as __main__, then the test in the same namespace, and maps the outcome to exit codes:
// 0 + the marker on stdout = pass, 3 = assertion failed, 4 = MemoryError, 5 = any other
// exception or a non-zero SystemExit. Only the harness knows the marker, so a program
// that exits early with status 0 cannot fake a pass.
#pragma once

namespace disa::tasks::sandbox_detail {

// The files of the working directory (test.py only when there is test code).
inline constexpr const char* kHarnessFile = "harness.py";
inline constexpr const char* kProgramFile = "solution.py";
inline constexpr const char* kTestFile = "test.py";
inline constexpr const char* kMarkerFile = "marker";
inline constexpr const char* kStdinFile = "stdin.txt";

inline constexpr int kExitAssertion = 3;
inline constexpr int kExitMemory = 4;

inline constexpr const char* kHarness = R"PY(import os, sys
def _disa_harness():
    with open('solution.py', encoding='utf-8') as f:
        src = f.read()
    test = None
    if os.path.exists('test.py'):
        with open('test.py', encoding='utf-8') as f:
            test = f.read()
        os.remove('test.py')
    with open('marker') as f:
        done = f.read().encode()
    os.remove('marker')
    namespace = {'__name__': '__main__', '__builtins__': __builtins__}
    def leave(code):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)
    try:
        try:
            exec(compile(src, 'solution.py', 'exec'), namespace)
        except SystemExit as e:
            if e.code not in (None, 0):
                raise
        if test is not None:
            exec(compile(test, 'test.py', 'exec'), namespace)
    except AssertionError:
        import traceback
        traceback.print_exc()
        leave(3)
    except MemoryError:
        sys.stderr.write('MemoryError\n')
        leave(4)
    except SystemExit as e:
        sys.stderr.write('SystemExit(%r)\n' % (e.code,))
        leave(5)
    except BaseException:
        try:
            import traceback
            traceback.print_exc()
        except BaseException:
            pass
        leave(5)
    try:
        sys.stdout.flush()
    except BaseException:
        leave(5)
    os.write(1, b'\n' + done + b'\n')
    os._exit(0)
_disa_harness()
)PY";

}  // namespace disa::tasks::sandbox_detail
