"""Tests of scripts/check-structure on small synthetic trees (python3 -m pytest -q Tests/tooling).

Each test writes a fake package (Package.swift and a few Swift files) into a temporary folder and runs the checker
on it with --root, as the test command runs it on the real tree.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-structure"

PACKAGE = """\
// swift-tools-version: 6.2
import PackageDescription

let commonSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let safeSettings: [SwiftSetting] = commonSettings + [.strictMemorySafety()]

let package = Package(
    name: "fake",
    targets: [
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb"),
        .target(name: "MariaDB", dependencies: ["CMariaDB"], swiftSettings: commonSettings),
        .target(name: "AuthCore", dependencies: ["MariaDB"], swiftSettings: safeSettings),
        .target(name: "AuthHTTP", dependencies: ["AuthCore"], swiftSettings: safeSettings),
        .target(name: "TestSupport", dependencies: ["MariaDB"], path: "Tests/TestSupport", swiftSettings: commonSettings),
        .testTarget(name: "AuthCoreTests", dependencies: ["AuthCore"], swiftSettings: commonSettings),
    ]
)
"""


def function(lines: int, name: str = "work", indent: str = "") -> str:
    """A Swift function of exactly `lines` lines (signature and closing brace included)."""
    assert lines >= 2
    body = [f"{indent}    total += {i}" for i in range(lines - 2)]
    return "\n".join([f"{indent}func {name}() {{", *body, f"{indent}}}"]) + "\n"


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=60)


def tree(tmp_path: Path, files: dict[str, str], package: str = PACKAGE) -> Path:
    (tmp_path / "Sources").mkdir(parents=True, exist_ok=True)
    if package is not None:
        (tmp_path / "Package.swift").write_text(package)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def violations(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line]


def check(tmp_path: Path, files: dict[str, str], *args: str, package: str = PACKAGE) -> list[str]:
    result = run(tree(tmp_path, files, package), *args)
    assert result.returncode == (1 if result.stdout else 0), result.stderr
    return violations(result)


# MARK: Function length


def test_an_80_line_function_passes(tmp_path):
    assert check(tmp_path, {"Sources/AuthCore/A.swift": function(80)}) == []


def test_an_81_line_function_fails_with_path_line_and_message(tmp_path):
    text = "import Glibc\n\n" + function(81, "tooLong")
    result = run(tree(tmp_path, {"Sources/AuthCore/A.swift": text}))
    assert result.returncode == 1
    assert violations(result) == ["Sources/AuthCore/A.swift:3: tooLong() has 81 lines (max 80)"]


def test_the_signature_attributes_and_closing_brace_count(tmp_path):
    text = textwrap.dedent("""\
        struct S {
            @discardableResult
            @available(*, deprecated, message: "use other()")
            public static func compute<T: Sendable>(
                value: T,
                other: Int = 3
            ) async throws(MyError) -> Int where T: Equatable {
                return 1
            }
        }
        """)
    found = check(tmp_path, {"Sources/AuthCore/S.swift": text}, "--max-function-lines", "7")
    assert found == ["Sources/AuthCore/S.swift:2: compute(value:other:) has 8 lines (max 7)"]
    assert check(tmp_path / "again", {"Sources/AuthCore/S.swift": text}, "--max-function-lines", "8") == []


def test_init_deinit_subscript_operator_and_computed_property(tmp_path):
    text = textwrap.dedent("""\
        final class Box {
            required init?(value: Int, _ other: Int) {
                a()
            }
            deinit {
                a()
            }
            subscript(index: Int) -> Int {
                a()
            }
            static func == (lhs: Box, rhs: Box) -> Bool {
                a()
            }
            var size: Int {
                a()
            }
            func open(_ name: String) {
                a()
            }
            func same<T, U>(_ t: T, _ u: U) where T == U {
                a()
            }
        }
        """)
    found = check(tmp_path, {"Sources/AuthCore/Box.swift": text}, "--max-function-lines", "2")
    assert found == [
        "Sources/AuthCore/Box.swift:2: init?(value:_:) has 3 lines (max 2)",
        "Sources/AuthCore/Box.swift:5: deinit has 3 lines (max 2)",
        "Sources/AuthCore/Box.swift:8: subscript(index:) has 3 lines (max 2)",
        "Sources/AuthCore/Box.swift:11: ==(lhs:rhs:) has 3 lines (max 2)",
        "Sources/AuthCore/Box.swift:14: var size has 3 lines (max 2)",
        "Sources/AuthCore/Box.swift:17: open(_:) has 3 lines (max 2)",
        "Sources/AuthCore/Box.swift:20: same(_:_:) has 3 lines (max 2)",
    ]


def test_braces_in_strings_and_comments_are_ignored(tmp_path):
    text = textwrap.dedent("""\
        func tricky() -> String {
            // a closing brace } in a line comment
            /// and { in a doc comment
            /* a block comment } with /* a nested } one */ still } a comment */
            let a = "}}} \\" } still the string {"
            let b = #"raw "}" string \\(not interpolated) }"#
            let c = "interpolated \\(items.map { "}" + $0 }.joined()) }"
            return a + b + c + "{"
        }
        func after() {
            work()
        }
        """)
    files = {"Sources/AuthCore/T.swift": text}
    assert check(tmp_path, files, "--max-function-lines", "9") == []
    assert check(tmp_path / "b", files, "--max-function-lines", "8") == [
        "Sources/AuthCore/T.swift:1: tricky() has 9 lines (max 8)",
    ]


def test_multi_line_strings_with_braces(tmp_path):
    text = textwrap.dedent('''\
        func page() -> String {
            let html = """
                <style> body { color: red; } }} </style>
                "quoted" and \\""" and \\(value) {
                """
            let raw = #"""
                } "" """ } \\(kept) "#
                """#
            return html + raw
        }
        func next() {
            work()
        }
        ''')
    files = {"Sources/AuthCore/P.swift": text}
    result = run(tree(tmp_path, files), "--list-long", "0")
    assert result.returncode == 0
    assert violations(result) == [
        "Sources/AuthCore/P.swift:1: 10 lines: page()",
        "Sources/AuthCore/P.swift:11: 3 lines: next()",
    ]


def test_nested_functions_and_closures(tmp_path):
    inner = function(30, "inner", indent="    ")
    closure = "    let sorted = items.sorted { a, b in\n" + "        a < b\n" * 45 + "    }\n"
    text = "func outer() {\n" + inner + closure + "}\n"  # 1 + 30 + 47 + 1 = 79 lines
    files = {"Sources/AuthCore/N.swift": text}
    assert check(tmp_path, files) == []
    longer = text.replace("    }\n}\n", "        a < b\n        a < b\n    }\n}\n")  # 81 lines
    assert check(tmp_path / "b", {"Sources/AuthCore/N.swift": longer}) == [
        "Sources/AuthCore/N.swift:1: outer() has 81 lines (max 80)",
    ]
    found = check(tmp_path / "c", files, "--max-function-lines", "29")
    assert found == [
        "Sources/AuthCore/N.swift:1: outer() has 79 lines (max 29)",
        "Sources/AuthCore/N.swift:2: inner() has 30 lines (max 29)",
    ]


def test_protocol_requirements_and_external_declarations_are_not_functions(tmp_path):
    text = textwrap.dedent("""\
        public protocol Store: AnyObject {
            init(connection: Connection)
            func load(id: Int) throws -> Row
            var count: Int { get }
            func save(_ row: Row)
        }
        @_silgen_name("c_function")
        func cFunction(_ value: Int) -> Int
        #if FUZZING
        func fuzz() {
            work()
        }
        #else
        func replay() {
            work()
        }
        #endif
        """)
    result = run(tree(tmp_path, {"Sources/AuthCore/Store.swift": text}), "--list-long", "0")
    assert violations(result) == [
        "Sources/AuthCore/Store.swift:10: 3 lines: fuzz()",
        "Sources/AuthCore/Store.swift:14: 3 lines: replay()",
        "Sources/AuthCore/Store.swift:4: 1 lines: var count",
    ]


def test_tests_folder_functions_are_checked_too(tmp_path):
    found = check(tmp_path, {"Tests/AuthCoreTests/LongTests.swift": function(81, "testLong")})
    assert found == ["Tests/AuthCoreTests/LongTests.swift:1: testLong() has 81 lines (max 80)"]


def test_unbalanced_braces_are_reported_not_skipped(tmp_path):
    text = "#if A\nfunc a() {\n#else\nfunc a() {\n#endif\n    work()\n}\n"
    found = check(tmp_path, {"Sources/AuthCore/U.swift": text})
    assert found == ["Sources/AuthCore/U.swift:2: cannot parse the Swift structure: '{' is never closed"]


def test_list_long_lists_longest_first_and_exits_zero(tmp_path):
    files = {"Sources/AuthCore/A.swift": function(90, "big") + function(40, "mid") + function(5, "small")}
    result = run(tree(tmp_path, files), "--list-long", "30")
    assert result.returncode == 0
    assert violations(result) == [
        "Sources/AuthCore/A.swift:1: 90 lines: big()",
        "Sources/AuthCore/A.swift:91: 40 lines: mid()",
    ]


# MARK: File length


def test_file_length_limit_and_override(tmp_path):
    exact = "// line\n" * 350
    assert check(tmp_path, {"Sources/AuthCore/A.swift": exact}) == []
    found = check(tmp_path / "b", {"Sources/AuthCore/A.swift": exact + "// one more"})
    assert found == ["Sources/AuthCore/A.swift:1: file has 351 lines (max 350)"]
    found = check(tmp_path / "c", {"Sources/AuthCore/A.swift": "// x\n" * 11}, "--max-file-lines", "10")
    assert found == ["Sources/AuthCore/A.swift:1: file has 11 lines (max 10)"]
    # Test files have no file-length limit.
    assert check(tmp_path / "d", {"Tests/AuthCoreTests/Big.swift": exact * 2}) == []


# MARK: Imports


@pytest.mark.parametrize("statement", [
    "import MariaDB",
    "public import MariaDB",
    "@preconcurrency internal import MariaDB",
    "import struct MariaDB.Row",
])
def test_authhttp_must_not_import_mariadb(tmp_path, statement):
    text = f"import Logging\n{statement}\n\nfunc f() {{}}\n"
    found = check(tmp_path, {"Sources/AuthHTTP/Handler.swift": text})
    assert found == ["Sources/AuthHTTP/Handler.swift:2: AuthHTTP must not import MariaDB"]


def test_other_imports_and_other_targets_pass(tmp_path):
    files = {
        "Sources/AuthHTTP/Handler.swift": '// import MariaDB\nimport MariaDBExtras\nlet s = "import MariaDB"\n',
        "Sources/AuthCore/Storage/Store.swift": "public import MariaDB\n",
        "Sources/AuthCore/Config/Config.swift": "public import MariaDB\n",
    }
    assert check(tmp_path, files) == []


def test_inside_authcore_only_storage_and_config_import_mariadb(tmp_path):
    files = {
        "Sources/AuthCore/Services/Accounts.swift": "import MariaDB\n",
        "Sources/AuthCore/Storage.swift": "import MariaDB\n",
        "Sources/AuthCore/Storage/Users.swift": "import MariaDB\n",
    }
    assert check(tmp_path, files) == [
        "Sources/AuthCore/Services/Accounts.swift:1: in AuthCore, only Storage, Config may import MariaDB",
        "Sources/AuthCore/Storage.swift:1: in AuthCore, only Storage, Config may import MariaDB",
    ]


def test_c_modules_are_imported_by_their_wrapper_only(tmp_path):
    files = {
        "Sources/MariaDB/Connection.swift": "import CMariaDB\n",
        "Sources/AuthCore/Store.swift": "import CMariaDB\n",
    }
    assert check(tmp_path, files) == [
        "Sources/AuthCore/Store.swift:1: the C module CMariaDB may only be imported by its wrapper target, "
        "not by AuthCore",
    ]


# MARK: Unsafe code


def test_unsafe_code_only_in_wrapper_targets(tmp_path):
    unsafe = "func f(_ p: UnsafePointer<UInt8>) {\n    unsafe g(p)\n}\n"
    harmless = '// UnsafePointer in a comment\nlet s = "withUnsafeBytes"\n'
    files = {
        "Sources/MariaDB/Raw.swift": unsafe,
        "Sources/AuthCore/Raw.swift": unsafe,
        "Sources/AuthHTTP/Fine.swift": harmless,
    }
    assert check(tmp_path, files) == [
        "Sources/AuthCore/Raw.swift:1: unsafe code (UnsafePointer) outside the wrapper targets (AuthCore is not one)",
        "Sources/AuthCore/Raw.swift:2: unsafe code (unsafe) outside the wrapper targets (AuthCore is not one)",
    ]


def test_every_non_wrapper_target_has_strict_memory_safety(tmp_path):
    package = PACKAGE.replace(
        '.target(name: "AuthHTTP", dependencies: ["AuthCore"], swiftSettings: safeSettings),',
        '.target(name: "AuthHTTP", dependencies: ["AuthCore"], swiftSettings: commonSettings),\n'
        '        .executableTarget(name: "tool", dependencies: ["AuthCore"]),\n'
        '        .executableTarget(name: "inline", swiftSettings: [.strictMemorySafety()]),')
    found = check(tmp_path, {"Sources/AuthHTTP/A.swift": ""}, package=package)
    assert found == [
        "Package.swift:13: target AuthHTTP is not a wrapper target but its swiftSettings (commonSettings) lack "
        ".strictMemorySafety() (use safeSettings)",
        "Package.swift:14: target tool is not a wrapper target but has no swiftSettings: it needs "
        ".strictMemorySafety() (safeSettings)",
    ]


def test_a_missing_package_manifest_is_a_violation(tmp_path):
    assert check(tmp_path, {"Sources/AuthCore/A.swift": ""}, package=None) == [
        "Package.swift:1: Package.swift not found: the unsafe-code rule cannot be checked",
    ]


# MARK: The real tree


def test_the_real_tree_parses():
    """Whatever the current violations, every Swift file of the repository is understood."""
    result = run(REPO)
    assert result.returncode in (0, 1), result.stderr
    assert "cannot parse" not in result.stdout
    assert "cannot read" not in result.stdout
