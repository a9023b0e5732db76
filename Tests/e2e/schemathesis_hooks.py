"""schemathesis hooks for test_contract.py (loaded through SCHEMATHESIS_HOOKS).

Works around a CPython 3.11.2 bug (Debian 12's python3; fixed in 3.11.5, gh-106905): ast.parse sometimes raises
"SystemError: AST constructor recursion depth mismatch". Hypothesis parses source files with it only to describe a
lambda in a strategy's repr; schemathesis builds such strategies while generating negative values, and the error
ended the whole run. A description is cosmetic, so a failure to compute one falls back to hypothesis' own
"lambda: <unknown>".
"""

from hypothesis.internal import lambda_sources

_describe = lambda_sources._lambda_description


def _lambda_description_or_unknown(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description_or_unknown
