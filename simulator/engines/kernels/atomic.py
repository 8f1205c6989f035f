"""An atomic counter: how the threads of a kernel call share out its task groups.

May import: numba and llvmlite.
"""

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["fetch_add"]


@intrinsic
def fetch_add(typingctx, counter):
    """Atomically add 1 to ``counter[0]`` (int64) and return its value before."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [ir.Constant(ir.IntType(64), 0)])
        return builder.atomic_rmw("add", ptr, ir.Constant(ir.IntType(64), 1), "seq_cst")

    return types.int64(counter), codegen
