"""The attnforge command line, design-file loader and explorer.

This package sits above einsum/, mapper/, sim/, fpga/ and rtl/: it imports them, none of them
imports it.
"""
