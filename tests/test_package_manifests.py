"""The package.xml files validate (format 3, catkin_pkg), agree with setup.py and name real rosdep keys.

`rosdep install --from-paths src` resolves every dependency of a package.xml: a misspelled or
invented key only shows up on a user's machine with apt ROS. Here each dependency must be a package
of this workspace or a key verified in rosdistro (tests/rosdep_keys.yaml), and every third-party
import of a package's code must be covered by its package.xml or by requirements/suite.txt.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from catkin_pkg.package import InvalidPackage, Package, parse_package

WORKSPACE = Path(__file__).resolve().parents[1]
KEYS_FILE = WORKSPACE / "tests" / "rosdep_keys.yaml"
SUITE_REQUIREMENTS = WORKSPACE / "requirements" / "suite.txt"
SRC_MANIFESTS = sorted(WORKSPACE.glob("src/*/package.xml"))
TEST_INTERFACE_MANIFESTS = sorted(WORKSPACE.glob("test_interfaces/*/package.xml"))

# Interface packages (msg/srv/action folders) are built with CMake by rosidl, everything else is pure
# Python; lerobot_ros_msgs is one whatever it holds.
CMAKE_PACKAGES = {"lerobot_ros_msgs"}
# Domains reserved for examples and placeholders (RFC 2606, RFC 6761) and the `ros2 pkg create` default.
PLACEHOLDER_EMAIL_DOMAIN = re.compile(r"(^|\.)(example(\.(com|net|org))?|invalid|test|localhost|todo)$", re.I)
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")
SOURCE = re.compile(r"^(rosdep/[a-z0-9_-]+\.yaml|[a-z]+/distribution\.yaml)@[0-9a-f]{40}$")


@dataclass(frozen=True)
class KeyCatalog:
    """tests/rosdep_keys.yaml: verified keys, pip keys to avoid, what imports require."""

    keys: dict[str, str]
    pip_keys: dict[str, str]
    imports: dict[str, dict[str, str]]
    undeclarable_imports: dict[str, str]

    @classmethod
    def load(cls, path: Path = KEYS_FILE) -> KeyCatalog:
        data = yaml.safe_load(path.read_text())
        return cls(
            keys=data["keys"],
            pip_keys=data["pip_keys"],
            imports=data["imports"],
            undeclarable_imports=data["undeclarable_imports"],
        )

    @property
    def ros_packages(self) -> set[str]:
        """Keys that are ROS packages (verified in a distribution.yaml), importable by their own name."""
        return {key for key, source in self.keys.items() if "/distribution.yaml@" in source}


def normalized_distribution(name: str) -> str:
    """PEP 503 normalisation, so `huggingface_hub` and `huggingface-hub` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def suite_distributions(path: Path = SUITE_REQUIREMENTS) -> set[str]:
    """Distribution names required by requirements/suite.txt."""
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
        if match:
            names.add(normalized_distribution(match.group(1)))
    return names


def all_dependencies(package: Package) -> list[str]:
    """Every name rosdep resolves for this manifest (group dependencies are not rosdep keys)."""
    kinds = (
        "build_depends",
        "buildtool_depends",
        "build_export_depends",
        "buildtool_export_depends",
        "exec_depends",
        "test_depends",
        "doc_depends",
    )
    return sorted({dep.name for kind in kinds for dep in getattr(package, kind)})


def parse_manifest(path: Path) -> tuple[Package | None, list[str]]:
    """The parsed package and its format problems (catkin_pkg errors and warnings)."""
    warnings: list[str] = []
    try:
        package = parse_package(str(path), warnings=warnings)
        package.validate(warnings=warnings)
    except InvalidPackage as error:
        return None, [f"{shown(path)}: invalid package.xml: {error}"]
    return package, [f"{shown(path)}: {warning}" for warning in warnings]


def setup_py_fields(path: Path) -> dict[str, object]:
    """Literal keyword arguments of the setup() call in a setup.py, without running it."""
    tree = ast.parse(path.read_text(), str(path))
    constants = {}  # module-level `package_name = "..."`, which setup(name=package_name) refers to
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError):
                continue
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "setup":
            fields = {}
            for keyword in node.keywords:
                if isinstance(keyword.value, ast.Name) and keyword.value.id in constants:
                    fields[keyword.arg] = constants[keyword.value.id]
                    continue
                try:
                    fields[keyword.arg] = ast.literal_eval(keyword.value)
                except (ValueError, TypeError):
                    continue
            return fields
    return {}


def shown(path: Path) -> Path:
    """A path as messages show it: relative to the workspace when inside it."""
    return path.relative_to(WORKSPACE) if path.is_relative_to(WORKSPACE) else path


def has_interface_definitions(path: Path) -> bool:
    """A package with msg/, srv/ or action/ folders: built by rosidl, hence with CMake."""
    return any((path.parent / kind).is_dir() for kind in ("msg", "srv", "action"))


def metadata_problems(path: Path, package: Package) -> list[str]:
    """Name, build type, maintainers and version/license agreement with setup.py."""
    problems = []
    folder = path.parent.name
    if package.name != folder:
        problems.append(f"{shown(path)}: <name> is {package.name!r} but the package folder is {folder!r}")
    cmake = has_interface_definitions(path) or package.name in CMAKE_PACKAGES
    expected_build_type = "ament_cmake" if cmake else "ament_python"
    if package.get_build_type() != expected_build_type:
        problems.append(f"{shown(path)}: build_type is {package.get_build_type()!r}, expected {expected_build_type!r}")
    for maintainer in package.maintainers:
        email = maintainer.email or ""
        domain = email.rpartition("@")[2]
        if not EMAIL.match(email) or PLACEHOLDER_EMAIL_DOMAIN.search(domain):
            problems.append(f"{shown(path)}: maintainer {maintainer.name!r} has a placeholder email {email!r}")
    if any("TODO" in license_ for license_ in package.licenses):
        problems.append(f"{shown(path)}: license is a placeholder: {package.licenses}")
    if expected_build_type == "ament_python":
        setup_py = path.parent / "setup.py"
        if not setup_py.is_file():
            return [*problems, f"{shown(path)}: ament_python package without {setup_py.name}"]
        fields = setup_py_fields(setup_py)
        for field, manifest_value in (
            ("name", package.name),
            ("version", package.version),
            ("license", ", ".join(package.licenses)),
            ("maintainer_email", package.maintainers[0].email),
        ):
            if fields.get(field) != manifest_value:
                problems.append(
                    f"{shown(path)}: {field} is {manifest_value!r} but {shown(setup_py)} says {fields.get(field)!r}"
                )
    elif not (path.parent / "CMakeLists.txt").is_file():
        problems.append(f"{shown(path)}: ament_cmake package without CMakeLists.txt")
    return problems


def interface_problems(path: Path, package: Package) -> list[str]:
    """Packages with msg/srv/action definitions follow the rosidl package conventions."""
    if not has_interface_definitions(path):
        return []
    problems = []
    if "rosidl_interface_packages" not in {group.name for group in package.member_of_groups}:
        problems.append(f"{shown(path)}: interface package not <member_of_group>rosidl_interface_packages")
    if "rosidl_default_generators" not in {dep.name for dep in package.buildtool_depends}:
        problems.append(f"{shown(path)}: interface package without <buildtool_depend>rosidl_default_generators")
    if "rosidl_default_runtime" not in {dep.name for dep in package.exec_depends}:
        problems.append(f"{shown(path)}: interface package without <exec_depend>rosidl_default_runtime")
    build_depends = {dep.name for dep in package.build_depends}
    for definition in sorted(path.parent.glob("*/*.*")):
        if definition.suffix not in {".msg", ".srv", ".action"}:
            continue
        for line in definition.read_text().splitlines():
            field_type = line.split("#", 1)[0].split(maxsplit=1)[0] if line.split("#", 1)[0].strip() else ""
            referenced = field_type.split("/", 1)[0] if "/" in field_type else package.name
            if referenced != package.name and referenced not in build_depends:
                problems.append(
                    f"{shown(path)}: {shown(definition)} uses {field_type!r} but package.xml does not "
                    f"<depend> on {referenced!r}"
                )
    return problems


def dependency_problems(path: Path, package: Package, workspace: set[str], catalog: KeyCatalog) -> list[str]:
    """Each dependency is a workspace package or a verified rosdep key (pip keys excluded)."""
    problems = []
    for name in all_dependencies(package):
        if name in workspace or name in catalog.keys:
            continue
        if name in catalog.pip_keys:
            problems.append(
                f"{shown(path)}: {name!r} is a pip rosdep key: rosdep cannot install it into a PEP 668 system Python; "
                "leave it out and require the package in requirements/suite.txt (docs/install-apt-ros.md)"
            )
        else:
            problems.append(
                f"{shown(path)}: {name!r} is neither a workspace package nor a verified rosdep key "
                f"(misspelled? if it is real, verify it in rosdistro and add it to {shown(KEYS_FILE)})"
            )
    return problems


def imported_modules(source_dir: Path) -> dict[str, Path]:
    """Modules imported (absolutely) by the Python files under source_dir -> first importing file."""
    modules: dict[str, Path] = {}
    for file in sorted(source_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name, file)
    return modules


def import_problems(
    path: Path, package: Package, workspace: set[str], catalog: KeyCatalog, distributions: set[str]
) -> list[str]:
    """Every third-party import of the package's code is declared in package.xml or requirements/suite.txt."""
    source_dir = path.parent / package.name
    if not source_dir.is_dir():
        return []
    declared = set(all_dependencies(package))
    problems = []
    first_import: dict[str, Path] = {}
    for full_name, file in sorted(imported_modules(source_dir).items()):
        if full_name not in catalog.undeclarable_imports:
            first_import.setdefault(full_name.split(".", 1)[0], file)
    for module, file in sorted(first_import.items()):
        where = shown(file)
        if module in sys.stdlib_module_names or module == package.name:
            continue
        if module in workspace or module in catalog.ros_packages:
            if module not in declared:
                problems.append(
                    f"{shown(path)}: {where} imports {module!r} but package.xml does not depend on {module!r}"
                )
            continue
        requirement = catalog.imports.get(module)
        if requirement is None:
            problems.append(
                f"{shown(path)}: {where} imports {module!r}, which {shown(KEYS_FILE)} does not map to a "
                "rosdep key or a requirements/suite.txt entry"
            )
        elif "rosdep" in requirement and requirement["rosdep"] not in declared:
            key = requirement["rosdep"]
            problems.append(f"{shown(path)}: {where} imports {module!r} but package.xml does not depend on {key!r}")
        elif "pip" in requirement and normalized_distribution(requirement["pip"]) not in distributions:
            problems.append(
                f"{shown(path)}: {where} imports {module!r}, a pip-only dependency, but requirements/suite.txt "
                f"does not require {requirement['pip']!r}"
            )
    return problems


def manifest_problems(
    path: Path, workspace: set[str], catalog: KeyCatalog, distributions: set[str], check_imports: bool = True
) -> list[str]:
    """All problems of one package.xml, each message naming the file."""
    package, problems = parse_manifest(path)
    if package is None:
        return problems
    problems += metadata_problems(path, package)
    problems += interface_problems(path, package)
    problems += dependency_problems(path, package, workspace, catalog)
    if check_imports:
        problems += import_problems(path, package, workspace, catalog, distributions)
    return problems


def package_names(manifests: list[Path]) -> set[str]:
    return {manifest.parent.name for manifest in manifests}


@pytest.fixture(scope="module")
def catalog() -> KeyCatalog:
    return KeyCatalog.load()


@pytest.fixture(scope="module")
def distributions() -> set[str]:
    return suite_distributions()


def test_the_workspace_has_its_packages() -> None:
    expected = {
        "lerobot_ros_msgs",
        "lerobot_ros_core",
        "lerobot_ros_drivers",
        "lerobot_ros_record",
        "lerobot_ros_policy",
        "lerobot_ros_bringup",
    }
    assert expected <= package_names(SRC_MANIFESTS)


@pytest.mark.parametrize("manifest", SRC_MANIFESTS, ids=lambda path: path.parent.name)
def test_src_manifest(manifest: Path, catalog: KeyCatalog, distributions: set[str]) -> None:
    # src/ packages resolve their dependencies without test_interfaces/: users never get those.
    problems = manifest_problems(manifest, package_names(SRC_MANIFESTS), catalog, distributions)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("manifest", TEST_INTERFACE_MANIFESTS, ids=lambda path: path.parent.name)
def test_test_interface_manifest(manifest: Path, catalog: KeyCatalog, distributions: set[str]) -> None:
    workspace = package_names(SRC_MANIFESTS + TEST_INTERFACE_MANIFESTS)
    problems = manifest_problems(manifest, workspace, catalog, distributions)
    assert not problems, "\n".join(problems)


def dependency_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph as [a, b, ..., a], or [] when it has none."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str]:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return []
        visiting.append(node)
        for dependency in sorted(graph.get(node, ())):
            cycle = visit(dependency)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return []

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return []


def test_workspace_packages_depend_on_each_other_without_cycles() -> None:
    # colcon refuses to build a workspace whose packages depend on each other in a cycle.
    workspace = package_names(SRC_MANIFESTS)
    graph = {
        manifest.parent.name: set(all_dependencies(parse_package(str(manifest)))) & workspace
        for manifest in SRC_MANIFESTS
    }
    cycle = dependency_cycle(graph)
    assert not cycle, f"dependency cycle between workspace packages: {' -> '.join(cycle)}"


# The suite's architecture: msgs ← core ← {drivers, record, policy} ← bringup. A user who installs
# only the recorder or the policy node gets no hardware drivers, and the policy no recorder.
ALLOWED_WORKSPACE_DEPENDENCIES = {
    "lerobot_ros_msgs": set(),
    "lerobot_ros_core": {"lerobot_ros_msgs"},
    "lerobot_ros_drivers": {"lerobot_ros_msgs", "lerobot_ros_core"},
    "lerobot_ros_record": {"lerobot_ros_msgs", "lerobot_ros_core"},
    "lerobot_ros_policy": {"lerobot_ros_msgs", "lerobot_ros_core"},
    "lerobot_ros_bringup": {
        "lerobot_ros_msgs",
        "lerobot_ros_core",
        "lerobot_ros_drivers",
        "lerobot_ros_record",
        "lerobot_ros_policy",
    },
}


def test_the_package_graph_is_msgs_core_then_drivers_record_policy_then_bringup() -> None:
    workspace = package_names(SRC_MANIFESTS)
    assert workspace == set(ALLOWED_WORKSPACE_DEPENDENCIES), "a package was added: place it in the graph"
    for manifest in SRC_MANIFESTS:
        name = manifest.parent.name
        uses = set(all_dependencies(parse_package(str(manifest)))) & workspace
        extra = uses - ALLOWED_WORKSPACE_DEPENDENCIES[name]
        assert not extra, f"{name} must not depend on {sorted(extra)}"
        if name in ("lerobot_ros_drivers", "lerobot_ros_record", "lerobot_ros_policy"):
            assert "lerobot_ros_core" in uses, f"{name} builds on lerobot_ros_core"


def test_the_cycle_check_finds_cycles() -> None:
    assert dependency_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert dependency_cycle({"a": {"b"}, "b": set()}) == []


def test_every_key_names_the_rosdistro_file_and_commit_it_was_verified_in(catalog: KeyCatalog) -> None:
    unsourced = {
        key: source
        for key, source in {**catalog.keys, **catalog.pip_keys}.items()
        if not isinstance(source, str) or not SOURCE.match(source)
    }
    assert not unsourced, f"keys without a '<rosdistro file>@<commit>' source: {unsourced}"
    overlapping = set(catalog.keys) & set(catalog.pip_keys)
    assert not overlapping, f"keys listed both as usable and as pip keys: {overlapping}"


def test_pip_only_imports_are_in_the_suite_requirements(catalog: KeyCatalog, distributions: set[str]) -> None:
    missing = {
        module: requirement["pip"]
        for module, requirement in catalog.imports.items()
        if "pip" in requirement and normalized_distribution(requirement["pip"]) not in distributions
    }
    assert not missing, f"pip-only imports not in requirements/suite.txt: {missing}"
    unknown_keys = {
        module: requirement["rosdep"]
        for module, requirement in catalog.imports.items()
        if "rosdep" in requirement and requirement["rosdep"] not in catalog.keys
    }
    assert not unknown_keys, f"imports mapped to unverified keys: {unknown_keys}"


# The checks themselves: a manifest with each kind of mistake is caught, with a message naming it.

MANIFEST = """<?xml version="1.0"?>
<package format="3">
  <name>{name}</name>
  <version>0.1.0</version>
  <description>A package for the checks.</description>
  <maintainer email="{email}">someone</maintainer>
  <license>Apache-2.0</license>
  {depends}
  <export><build_type>ament_python</build_type></export>
</package>
"""

SETUP_PY = """from setuptools import setup
setup(name="{name}", version="0.1.0", maintainer_email="{email}", license="Apache-2.0")
"""


def write_package(
    root: Path,
    name: str = "lerobot_ros_demo",
    folder: str | None = None,
    depends: str = "<exec_depend>python3-numpy</exec_depend>",
    email: str = "team@lerobot-ros.dev",
    code: str = "import numpy\n",
    manifest: str = MANIFEST,
) -> Path:
    package_dir = root / (folder or name)
    (package_dir / name).mkdir(parents=True)
    (package_dir / "package.xml").write_text(manifest.format(name=name, email=email, depends=depends))
    (package_dir / "setup.py").write_text(SETUP_PY.format(name=name, email=email))
    (package_dir / name / "__init__.py").write_text(code)
    return package_dir / "package.xml"


def test_a_correct_manifest_passes(tmp_path: Path, catalog: KeyCatalog, distributions: set[str]) -> None:
    path = write_package(tmp_path)
    assert manifest_problems(path, {"lerobot_ros_demo"}, catalog, distributions) == []


def test_a_misspelled_key_fails_naming_the_file_and_the_key(
    tmp_path: Path, catalog: KeyCatalog, distributions: set[str]
) -> None:
    path = write_package(tmp_path, depends="<exec_depend>python3-numpi</exec_depend>", code="")
    problems = manifest_problems(path, {"lerobot_ros_demo"}, catalog, distributions)
    assert len(problems) == 1
    assert str(path) in problems[0]
    assert "'python3-numpi'" in problems[0]


def test_a_pip_key_fails_with_the_reason(tmp_path: Path, catalog: KeyCatalog, distributions: set[str]) -> None:
    path = write_package(tmp_path, depends="<exec_depend>python3-pytorch-pip</exec_depend>", code="")
    problems = manifest_problems(path, {"lerobot_ros_demo"}, catalog, distributions)
    assert len(problems) == 1
    assert "'python3-pytorch-pip' is a pip rosdep key" in problems[0]


def test_an_undeclared_import_fails(tmp_path: Path, catalog: KeyCatalog, distributions: set[str]) -> None:
    code = "import numpy\nimport cv2\nfrom sensor_msgs.msg import Image\nimport some_unknown_module\n"
    path = write_package(tmp_path, code=code)
    problems = manifest_problems(path, {"lerobot_ros_demo"}, catalog, distributions)
    assert len(problems) == 3, problems
    assert "imports 'cv2' but package.xml does not depend on 'python3-opencv'" in problems[0]
    assert "imports 'sensor_msgs' but package.xml does not depend on 'sensor_msgs'" in problems[1]
    assert "imports 'some_unknown_module'" in problems[2]


def test_placeholder_email_and_folder_mismatch_fail(
    tmp_path: Path, catalog: KeyCatalog, distributions: set[str]
) -> None:
    path = write_package(tmp_path, folder="other_folder", email="user@todo.todo")
    problems = manifest_problems(path, {"lerobot_ros_demo"}, catalog, distributions, check_imports=False)
    assert any("placeholder email 'user@todo.todo'" in problem for problem in problems), problems
    assert any("the package folder is 'other_folder'" in problem for problem in problems), problems


def test_version_disagreeing_with_setup_py_fails(tmp_path: Path, catalog: KeyCatalog, distributions: set[str]) -> None:
    path = write_package(tmp_path, manifest=MANIFEST.replace("<version>0.1.0", "<version>0.2.0"))
    problems = manifest_problems(path, {"lerobot_ros_demo"}, catalog, distributions)
    assert len(problems) == 1, problems
    assert "version is '0.2.0'" in problems[0]
    assert "setup.py says '0.1.0'" in problems[0]


def test_an_invalid_format_3_manifest_fails(tmp_path: Path, catalog: KeyCatalog, distributions: set[str]) -> None:
    without_description = MANIFEST.replace("<description>A package for the checks.</description>", "")
    path = write_package(tmp_path, manifest=without_description)
    problems = manifest_problems(path, {"lerobot_ros_demo"}, catalog, distributions)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: invalid package.xml:")


def test_an_interface_using_an_undeclared_package_fails(
    tmp_path: Path, catalog: KeyCatalog, distributions: set[str]
) -> None:
    cmake_manifest = MANIFEST.replace("ament_python", "ament_cmake").replace(
        "{depends}",
        "<buildtool_depend>ament_cmake</buildtool_depend>"
        "<buildtool_depend>rosidl_default_generators</buildtool_depend>"
        "<depend>std_msgs</depend><exec_depend>rosidl_default_runtime</exec_depend>"
        "<member_of_group>rosidl_interface_packages</member_of_group>",
    )
    path = write_package(tmp_path, name="lerobot_ros_demo_msgs", manifest=cmake_manifest, code="")
    (path.parent / "CMakeLists.txt").write_text("")
    (path.parent / "msg").mkdir()
    (path.parent / "msg" / "Demo.msg").write_text(
        "# header\nstd_msgs/Header header\nsensor_msgs/JointState[] states  # per arm\nDemoPart part\n"
    )
    problems = manifest_problems(path, {"lerobot_ros_demo_msgs"}, catalog, distributions)
    assert len(problems) == 1, problems
    assert "uses 'sensor_msgs/JointState[]' but package.xml does not <depend> on 'sensor_msgs'" in problems[0]
