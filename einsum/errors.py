"""The one error type for bad user input, shared by every attnforge package.

`einsum` is the lowest package, so the base class lives here; `mapper`, `sim`, `fpga`, `rtl` and
the CLI subclass or catch it. An `InputError`'s message is complete and user-facing: the CLI
prints it alone and exits with code 2, never a traceback.
"""


class InputError(Exception):
    """Bad user input (notation, design file, arrays, parameters).

    The message names the place (file:line:col, Einsum, key or array) and what is wrong.
    """
