"""Per-site Python kernels as CUDA C `__device__` functions: a small, strict translator.

A model writes its per-site arithmetic once, as scalar Python functions (the Numba per-site
functions of e.g. physics.qke_kernels, `register_jitable` or kernels.site_functions), which the
compiled CPU loops call. This
module turns such a function, and every function it calls, into CUDA C source that a fused
device kernel calls, so the GPU evaluates the same expressions as the CPU loops:

- every binary operation is emitted fully parenthesised, in Python's tree, so C evaluates
  exactly the operations Python/Numba evaluate, in the same order; built without FMA contraction
  (`--fmad=false`, as every kernel of the project is) the results are bitwise equal;
- every number is a C `double` (integer literals are written as doubles: `1 / 2` is 0.5 as in
  Python); subscripts are integers fixed at translation time.

The subset (anything else raises TranslationError naming the construct and its line):

- `def f(a, b, ...)` with positional parameters; a parameter is an array (`double*`, or
  `const double*` when only read) if it is subscripted or passed on as an array, else a double;
- statements: assignment to a local name or to `array[i]` (also `a, b = x, y`), `+= -= *= /=`,
  a call of another translated function, `return expr` (a double) or `return`, `pass`, the
  docstring, and `for name in (c0, c1, ...)` / `for a, b in ((c0, c1), ...)` over a literal tuple
  of integer constants (unrolled);
- expressions: `+ - * /`, unary `-` and `+`, float and int constants, local names, module-level
  int or float constants, `array[i]` with i an int constant, a module-level int constant, a loop
  name or `+ - *` of those, and calls of functions (plain functions, as register_jitable leaves
  them, or Numba dispatchers, named in the caller's module globals, or attributes of a module
  it imports) that return a double;
- `abs(x)` as C `fabs(x)`: both clear the sign bit only (abs(-0.0) is 0.0, a NaN stays NaN);
- `math.sqrt(x)` as C `sqrt(x)`: IEEE 754 requires both correctly rounded (NVRTC's default
  `--prec-sqrt=true`; no kernel of the project is built with fast math), so equal for every
  x ≥ 0, NaN and +inf (sqrt(-0.0) is -0.0 in both); where Python raises ValueError (x < 0),
  Numba and C give NaN;
- the conditional expression `a if test else b` as `(test ? a : b)` (only the branch taken is
  evaluated, as in Python), its test a comparison `x < y` (`<= > >= == !=`) of two numbers, or
  `and`, `or`, `not` of tests: IEEE comparisons are those of Python floats (every comparison
  with a NaN is false except `!=`; -0.0 == 0.0), and C's `&&`, `||` short-circuit as Python's
  `and`, `or` do. E.g. a maximum that propagates NaN as np.maximum does (physics.qke_kernels.larger):
  `a if a > b or a != a else b`.

No `**`, comparisons outside such a test (a bool is not a number), chained comparisons, `if`,
`while`, other builtins (`max`, `min`: not NaN-propagating, and not translated) and other `math`
functions, tuple returns, slices, multi-dimensional subscripts or local arrays: each is an
error, not an approximation.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import math
import textwrap
from dataclasses import dataclass

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_INDEX_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}
_COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_INTRINSICS = ((abs, "fabs"), (math.sqrt, "sqrt"))
"""(Python function, C function of one double with the same result: see the module docstring)."""


class TranslationError(ValueError):
    """A Python construct outside the translatable subset (the message names it and its line)."""


@dataclass(frozen=True)
class DeviceFunction:
    """One translated function.

    Attributes:
        name: its C name (module and function name, dots as underscores).
        params: (Python name, kind) per parameter, kind "scalar", "in" (a read-only array) or
            "out" (an array written to, here or in a callee).
        returns: whether it returns a double (else void).
        source: the C text of this function alone.
        callees: the DeviceFunctions it calls, in order of first call.
    """

    name: str
    params: tuple
    returns: bool
    source: str
    callees: tuple


def python_function(obj):
    """The plain Python function behind obj: a function (register_jitable returns the function
    itself) or a Numba dispatcher (its `py_func`)."""
    function = getattr(obj, "py_func", obj)
    if not inspect.isfunction(function):
        raise TranslationError(f"{obj!r} is not a Python function or a Numba dispatcher")
    return function


def translate(obj, arrays=(), _cache=None, _active=()) -> DeviceFunction:
    """The DeviceFunction of the function `obj` (its callees translated too); the parameters
    named in `arrays` are arrays even where the body does not subscript them."""
    cache = {} if _cache is None else _cache
    function = python_function(obj)
    key = (function, tuple(arrays))
    if key in cache:
        return cache[key]
    result = _Translator(function, cache, _active + (function,), tuple(arrays)).run()
    cache[key] = result
    return result


def device_source(*objs, arrays=()) -> str:
    """C source of the functions objs (`arrays` as for translate; an obj may also be a pair
    (function, its own arrays)) and everything they call, each once, callees first."""
    cache, ordered = {}, []

    def add(device):
        for callee in device.callees:
            add(callee)
        if device not in ordered:
            ordered.append(device)

    for obj in objs:
        function, names = obj if isinstance(obj, tuple) else (obj, arrays)
        add(translate(function, names, cache))
    return "\n".join(d.source for d in ordered)


def c_name(obj) -> str:
    """The C name translate gives the function obj."""
    function = python_function(obj)
    return f"{function.__module__}.{function.__qualname__}".replace(".", "_").replace("<", "_").replace(">", "_")


def _literal(value, where) -> str:
    """A Python int or float as a C double literal of the same value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TranslationError(f"{where}: the constant {value!r} is not a number")
    x = float(value)
    if not math.isfinite(x) or (isinstance(value, int) and abs(value) > 2 ** 53):
        raise TranslationError(f"{where}: the constant {value!r} has no exact finite double")
    return f"({x!r})" if x < 0.0 or math.copysign(1.0, x) < 0.0 else repr(x)


class _Translator:
    """Translates one function (see the module docstring for the subset)."""

    def __init__(self, function, cache, active, arrays=()):
        self.function, self.cache, self.active, self.arrays = function, cache, active, arrays
        self.globals = function.__globals__
        if function.__code__.co_freevars:
            raise TranslationError(f"{function.__qualname__}: a closure (free names "
                                   f"{', '.join(function.__code__.co_freevars)}) is not translatable")
        try:
            source = textwrap.dedent(inspect.getsource(function))
        except (OSError, TypeError) as e:
            raise TranslationError(f"{function.__qualname__}: no source ({e})") from None
        self.first_line = function.__code__.co_firstlineno
        tree = ast.parse(source)
        self.node = tree.body[0]
        if not isinstance(self.node, ast.FunctionDef):
            raise TranslationError(f"{function.__qualname__}: not a def statement")
        a = self.node.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or getattr(a, "posonlyargs", []):
            raise TranslationError(self._at(self.node, "only plain positional parameters are translatable"))
        self.params = [p.arg for p in a.args]
        self.callees = []
        self.kinds = {}
        self.returns = None
        self.declared = set()
        self.lines = []

    # -- helpers ---------------------------------------------------------------------------------
    def _at(self, node, message):
        line = self.first_line + getattr(node, "lineno", 1) - 1
        return f"{self.function.__qualname__} (line {line} of {inspect.getsourcefile(self.function)}): {message}"

    def _fail(self, node, message):
        raise TranslationError(self._at(node, message))

    def _target(self, call):
        """(the name as written, the object) a call names: a module global, else a builtin, or an
        attribute of a module the module imports (math.sqrt); None where nothing has the name."""
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in self.params or func.id in self.declared:
                self._fail(call, f"the call of the local name {func.id}")
            if func.id in self.globals:
                return func.id, self.globals[func.id]
            return func.id, getattr(builtins, func.id, None)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                and inspect.ismodule(self.globals.get(func.value.id)):
            return ast.unparse(func), getattr(self.globals[func.value.id], func.attr, None)
        self._fail(call, f"the call of {ast.unparse(func)} (only functions named in the module are translatable)")

    def _intrinsic(self, call):
        """The C function of a call of abs or math.sqrt (_INTRINSICS), else None."""
        name, target = self._target(call)
        for function, c_function in _INTRINSICS:
            if target is function:
                if call.keywords or len(call.args) != 1 or isinstance(call.args[0], ast.Starred):
                    self._fail(call, f"the call of {name} (one positional argument)")
                return c_function
        return None

    def _callee(self, call):
        name, target = self._target(call)
        if target is None:
            self._fail(call, f"the call of {name} (an unknown name)")
        if call.keywords:
            self._fail(call, f"keyword arguments in the call of {name}")
        if inspect.isbuiltin(target) or isinstance(target, type):
            self._fail(call, f"the call of {name} (of the builtins and math functions, only abs and math.sqrt "
                             f"are translated)")
        try:
            function = python_function(target)
        except TranslationError:
            self._fail(call, f"the call of {name}, which is not a Python function")
        if function in self.active:
            self._fail(call, f"the recursive call of {name}")
        device = translate(target, (), self.cache, self.active)
        if len(call.args) != len(device.params):
            self._fail(call, f"{name} takes {len(device.params)} arguments, given {len(call.args)}")
        if device not in self.callees:
            self.callees.append(device)
        return device

    # -- pass 1: which parameters are arrays, and which of those are written -----------------------
    def _analyse(self):
        arrays, written = set(self.arrays), set()
        for node in (n for statement in self.node.body for n in ast.walk(statement)):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                arrays.add(node.value.id)
                if isinstance(node.ctx, ast.Store):
                    written.add(node.value.id)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript) \
                    and isinstance(node.target.value, ast.Name):
                written.add(node.target.value.id)
            elif isinstance(node, ast.Call):
                if self._intrinsic(node) is not None:
                    continue            # its argument, a number, is walked as any expression
                device = self._callee(node)
                for arg, (_, kind) in zip(node.args, device.params):
                    if kind != "scalar":
                        if not isinstance(arg, ast.Name):
                            self._fail(arg, f"{ast.unparse(arg)} passed where {device.name} takes an array")
                        arrays.add(arg.id)
                        if kind == "out":
                            written.add(arg.id)
        for name in arrays:
            if name not in self.params:
                self._fail(self.node, f"{name} is used as an array but is not a parameter (no local arrays)")
        self.kinds = {p: ("out" if p in written else "in") if p in arrays else "scalar" for p in self.params}

    # -- pass 2: the statements ------------------------------------------------------------------
    def run(self) -> DeviceFunction:
        self._analyse()
        for p, kind in self.kinds.items():
            if kind == "scalar":
                self.declared.add(p)
        self._block(self.node.body, {}, docstring=True)
        name = c_name(self.function)
        types = {"scalar": "double ", "in": "const double* ", "out": "double* "}
        params = ", ".join(f"{types[k]}v_{p}" for p, k in self.kinds.items())
        head = f"__device__ __forceinline__ {'double' if self.returns else 'void'} {name}({params})"
        body = "\n".join("    " + line for line in self.lines)
        comment = f"// {self.function.__module__}.{self.function.__qualname__}, translated by kernels.cuda_source"
        source = f"{comment}\n{head}\n{{\n{body}\n}}\n"
        return DeviceFunction(name, tuple(self.kinds.items()), bool(self.returns), source, tuple(self.callees))

    def _block(self, statements, bound, docstring=False):
        for i, s in enumerate(statements):
            if i == 0 and docstring and isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) \
                    and isinstance(s.value.value, str):
                continue
            self._statement(s, bound)

    def _statement(self, s, bound):
        if isinstance(s, ast.Pass):
            return
        if isinstance(s, ast.Expr):
            if not isinstance(s.value, ast.Call):
                self._fail(s, f"the expression statement {ast.unparse(s)!r} (only calls)")
            self.lines.append(self._call(s.value, bound, statement=True) + ";")
        elif isinstance(s, ast.Assign):
            if len(s.targets) != 1:
                self._fail(s, "chained assignment (a = b = ...)")
            target = s.targets[0]
            if isinstance(target, ast.Tuple):
                if not isinstance(s.value, ast.Tuple) or len(s.value.elts) != len(target.elts):
                    self._fail(s, "a tuple assignment whose right side is not a tuple of the same length "
                               "(tuple returns are not translatable)")
                values = [self._expr(v, bound) for v in s.value.elts]
                temps = []
                for v in values:            # the right side first, as Python evaluates it
                    temps.append(f"t_{len(self.lines)}_{len(temps)}")
                    self.lines.append(f"const double {temps[-1]} = {v};")
                for t, temp in zip(target.elts, temps):
                    self._store(t, temp, bound, s)
            else:
                self._store(target, self._expr(s.value, bound), bound, s)
        elif isinstance(s, ast.AugAssign):
            op = _OPERATORS.get(type(s.op))
            if op is None:
                self._fail(s, f"the augmented assignment {type(s.op).__name__}= (only += -= *= /=)")
            load = ast.copy_location(ast.Subscript(s.target.value, s.target.slice, ast.Load())
                                     if isinstance(s.target, ast.Subscript) else ast.Name(getattr(s.target, "id", "?"), ast.Load()), s)
            self._store(s.target, f"({self._expr(load, bound)} {op} {self._expr(s.value, bound)})", bound, s)
        elif isinstance(s, ast.For):
            self._unroll(s, bound)
        elif isinstance(s, ast.Return):
            has_value = s.value is not None
            if self.returns is not None and self.returns != has_value:
                self._fail(s, "returns with and without a value")
            self.returns = has_value
            if has_value and isinstance(s.value, ast.Tuple):
                self._fail(s, "a tuple return")
            self.lines.append(f"return {self._expr(s.value, bound)};" if has_value else "return;")
        else:
            self._fail(s, f"the {type(s).__name__} statement")

    def _store(self, target, value, bound, s):
        if isinstance(target, ast.Name):
            name = target.id
            if name in bound:
                self._fail(s, f"assignment to the loop name {name}")
            if self.kinds.get(name, "scalar") != "scalar":
                self._fail(s, f"assignment to the array parameter {name}")
            if name in self.declared:
                self.lines.append(f"v_{name} = {value};")
            else:
                self.declared.add(name)
                self.lines.append(f"double v_{name} = {value};")
        elif isinstance(target, ast.Subscript):
            self.lines.append(f"{self._subscript(target, bound)} = {value};")
        else:
            self._fail(s, f"assignment to {ast.unparse(target)}")

    def _unroll(self, s, bound):
        if s.orelse:
            self._fail(s, "a for loop with an else clause")
        if not isinstance(s.iter, (ast.Tuple, ast.List)):
            self._fail(s, f"the loop over {ast.unparse(s.iter)} (only literal tuples of int constants are unrolled)")
        names = [s.target] if isinstance(s.target, ast.Name) else list(getattr(s.target, "elts", []))
        if not names or not all(isinstance(n, ast.Name) for n in names):
            self._fail(s, f"the loop target {ast.unparse(s.target)}")
        for item in s.iter.elts:
            values = [item] if isinstance(s.target, ast.Name) else getattr(item, "elts", None)
            if values is None or len(values) != len(names):
                self._fail(s, f"the loop item {ast.unparse(item)} does not match {ast.unparse(s.target)}")
            inner = dict(bound)
            inner.update({n.id: self._index(v, bound) for n, v in zip(names, values)})
            self._block(s.body, inner)

    # -- expressions -----------------------------------------------------------------------------
    def _index(self, node, bound):
        """An integer known at translation time."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in bound:
                return bound[node.id]
            value = self.globals.get(node.id)
            local = node.id in self.params or node.id in self.declared
            if not local and isinstance(value, int) and not isinstance(value, bool):
                return value
            self._fail(node, f"the index {node.id} (not an int constant of the module or a loop name)")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._index(node.operand, bound)
        if isinstance(node, ast.BinOp) and type(node.op) in _INDEX_OPERATORS:
            return _INDEX_OPERATORS[type(node.op)](self._index(node.left, bound), self._index(node.right, bound))
        self._fail(node, f"the index {ast.unparse(node)} (only int constants, module constants, loop names and + - *)")

    def _subscript(self, node, bound):
        if not isinstance(node.value, ast.Name) or self.kinds.get(node.value.id, "scalar") == "scalar":
            self._fail(node, f"the subscript {ast.unparse(node)} (only array parameters are subscripted)")
        if isinstance(node.slice, (ast.Tuple, ast.Slice)):
            self._fail(node, f"the subscript {ast.unparse(node)} (only one integer index)")
        i = self._index(node.slice, bound)
        if i < 0:
            self._fail(node, f"the negative index in {ast.unparse(node)}")
        return f"v_{node.value.id}[{i}]"

    def _call(self, node, bound, statement=False):
        device = self._callee(node)
        if not statement and not device.returns:
            self._fail(node, f"{node.func.id} returns no value")
        args = []
        for arg, (_, kind) in zip(node.args, device.params):
            if kind == "scalar":
                args.append(self._expr(arg, bound))
            else:
                args.append(f"v_{arg.id}")
        return f"{device.name}({', '.join(args)})"

    def _expr(self, node, bound) -> str:
        where = self._at(node, "").rstrip(": ")
        if isinstance(node, ast.Constant):
            return _literal(node.value, where)
        if isinstance(node, ast.Name):
            name = node.id
            if name in bound:
                return _literal(bound[name], where)
            if name in self.params:
                if self.kinds[name] != "scalar":
                    self._fail(node, f"the array {name} used as a number")
                return f"v_{name}"
            if name in self.declared:
                return f"v_{name}"
            if name in self.globals:
                return _literal(self.globals[name], self._at(node, f"the module name {name}"))
            self._fail(node, f"the name {name} (read before assignment, or unknown)")
        if isinstance(node, ast.BinOp):
            op = _OPERATORS.get(type(node.op))
            if op is None:
                self._fail(node, f"the operator {type(node.op).__name__} in {ast.unparse(node)} (only + - * /)")
            return f"({self._expr(node.left, bound)} {op} {self._expr(node.right, bound)})"
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return f"(-{self._expr(node.operand, bound)})"
            if isinstance(node.op, ast.UAdd):
                return self._expr(node.operand, bound)
            self._fail(node, f"the unary operator {type(node.op).__name__} in {ast.unparse(node)}")
        if isinstance(node, ast.Subscript):
            return self._subscript(node, bound)
        if isinstance(node, ast.Call):
            intrinsic = self._intrinsic(node)
            if intrinsic is not None:
                return f"{intrinsic}({self._expr(node.args[0], bound)})"
            return self._call(node, bound)
        if isinstance(node, ast.IfExp):
            return (f"({self._test(node.test, bound)} ? {self._expr(node.body, bound)} : "
                    f"{self._expr(node.orelse, bound)})")
        if isinstance(node, ast.Compare):
            self._fail(node, f"the comparison {ast.unparse(node)} used as a number (comparisons only in the "
                             f"test of a conditional expression)")
        self._fail(node, f"the expression {ast.unparse(node)} ({type(node).__name__})")

    def _test(self, node, bound) -> str:
        """A C condition with the truth value of the Python test `node`: one comparison of two
        numbers, or and/or/not of tests."""
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                self._fail(node, f"the chained comparison {ast.unparse(node)}")
            op = _COMPARISONS.get(type(node.ops[0]))
            if op is None:
                self._fail(node, f"the comparison {ast.unparse(node)} (only < <= > >= == !=)")
            return f"({self._expr(node.left, bound)} {op} {self._expr(node.comparators[0], bound)})"
        if isinstance(node, ast.BoolOp):
            joined = (" && " if isinstance(node.op, ast.And) else " || ").join(self._test(v, bound)
                                                                                for v in node.values)
            return f"({joined})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(!{self._test(node.operand, bound)})"
        self._fail(node, f"the test {ast.unparse(node)} (only comparisons of two numbers, and and/or/not of them)")
