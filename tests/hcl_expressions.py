"""Evaluating Terraform validation conditions offline, for tests/test_infra.py.

``terraform validate`` and ``plan`` need the google provider, and python-hcl2
parses an expression without evaluating it. This evaluates the subset of HCL
that the module's variable validations use: string, number and bool literals,
lists, ``var.NAME``, ``for`` list expressions, ``! && || == != < <= > >=``
and the functions below. Any other construct raises :class:`Unsupported`, so
a validation written with something new fails its test instead of passing
unchecked. ``regex`` is evaluated with Python's ``re``, which agrees with
Terraform's RE2 on the syntax the validations use (no backreferences or
lookarounds, which RE2 lacks).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import hcl2
from lark import Token, Tree

Node = Tree[Token]


class Unsupported(ValueError):
    """An HCL construct this evaluator does not know."""


class EvaluationError(ValueError):
    """What Terraform reports as an error (caught by ``can``)."""


def _regex(pattern: str, value: str) -> str:
    match = re.search(pattern, value)
    if match is None:
        raise EvaluationError(f"{pattern!r} does not match {value!r}")
    return match.group(0)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "regex": _regex,
    "regexall": re.findall,
    "length": len,
    "alltrue": all,
    "contains": lambda values, value: value in values,
    "floor": math.floor,
    "trimspace": str.strip,
}

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}

_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


def evaluate(expression: str, variables: Mapping[str, Any]) -> Any:
    """The value of ``expression`` (as python-hcl2 serializes it, ``${...}``)."""
    source = expression.removeprefix("${").removesuffix("}")
    tree = hcl2.parses_to_tree(f"x = {source}\n")
    [body] = _trees(tree)  # start -> body -> attribute (x = expression)
    [attribute] = _trees(body)
    _, value = _trees(attribute)
    return _Evaluator(variables).eval(value)


def _trees(node: Node) -> list[Node]:
    """The sub-expressions of a node (punctuation and line ends left out)."""
    return [
        child
        for child in node.children
        if isinstance(child, Tree) and child.data != "new_line_or_comment"
    ]


def _name(node: Node) -> str:
    if node.data != "identifier":
        raise Unsupported(f"expected a name, got {node.data}")
    return str(node.children[0])


class _Evaluator:
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.variables = variables
        self.scope: dict[str, Any] = {}

    def eval(self, node: Node) -> Any:
        handler = getattr(self, f"_{node.data}", None)
        if handler is None:
            raise Unsupported(f"HCL construct {node.data!r}")
        return handler(node)

    def _expr_term(self, node: Node) -> Any:
        [inner] = _trees(node)
        return self.eval(inner)

    def _identifier(self, node: Node) -> Any:
        name = _name(node)
        keywords = {"true": True, "false": False, "null": None}
        if name in keywords:
            return keywords[name]
        if name not in self.scope:
            raise Unsupported(f"unknown name {name!r}")
        return self.scope[name]

    def _get_attr_expr_term(self, node: Node) -> Any:
        base, attribute = _trees(node)
        [base_name] = _trees(base)
        if _name(base_name) != "var":
            raise Unsupported("only var.NAME attributes")
        [name] = _trees(attribute)
        return self.variables[_name(name)]

    def _string(self, node: Node) -> str:
        parts = []
        for child in node.children:
            if isinstance(child, Tree):
                if child.data != "string_part":
                    raise Unsupported(f"string with {child.data}")
                parts.append(str(child.children[0]))
            elif isinstance(child, Token) and child != '"':
                parts.append(str(child))
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), "".join(parts))

    def _int_lit(self, node: Node) -> int:
        return int(str(node.children[0]))

    def _float_lit(self, node: Node) -> float:
        return float(str(node.children[0]))

    def _tuple(self, node: Node) -> list[Any]:
        return [self.eval(child) for child in _trees(node)]

    def _function_call(self, node: Node) -> Any:
        name_node, *rest = _trees(node)
        name = _name(name_node)
        arguments = _trees(rest[0]) if rest else []
        if name == "can":
            try:
                self.eval(arguments[0])
            except EvaluationError:
                return False
            return True
        if name not in FUNCTIONS:
            raise Unsupported(f"function {name}()")
        return FUNCTIONS[name](*(self.eval(argument) for argument in arguments))

    def _for_tuple_expr(self, node: Node) -> list[Any]:
        intro, body, *condition = _trees(node)
        if condition:
            raise Unsupported("for expression with an if clause")
        *names, collection = _trees(intro)
        items = self.eval(collection)
        pairs = items.items() if isinstance(items, Mapping) else enumerate(items)
        results = []
        for key, value in pairs:
            bound = dict(zip([_name(n) for n in names], [key, value][-len(names) :], strict=True))
            saved, self.scope = self.scope, {**self.scope, **bound}
            try:
                results.append(self.eval(body))
            finally:
                self.scope = saved
        return results

    def _unary_op(self, node: Node) -> Any:
        operator = str(node.children[0])
        [operand] = _trees(node)
        if operator == "!":
            return not self.eval(operand)
        if operator == "-":
            return -self.eval(operand)
        raise Unsupported(f"unary {operator}")

    def _binary_op(self, node: Node) -> Any:
        left, term = _trees(node)
        operator_node, right = _trees(term)
        operator = str(operator_node.children[0])
        if operator == "&&":
            return bool(self.eval(left)) and bool(self.eval(right))
        if operator == "||":
            return bool(self.eval(left)) or bool(self.eval(right))
        if operator not in _COMPARISONS:
            raise Unsupported(f"operator {operator}")
        return _COMPARISONS[operator](self.eval(left), self.eval(right))
