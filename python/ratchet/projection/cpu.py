"""The reference's module path ``ratchet.projection.cpu``: cPU perception and solver projections. Its names are this
package's own, read when used (``ratchet._alias``)."""

from .._alias import forward

__all__ = [
    "CpuLatencyProjection",
    "SolverConvergenceProjection",
    "project_frame_latency",
    "project_solver_convergence",
]

__getattr__, __dir__ = forward(
    __name__,
    {
        **dict.fromkeys(["CpuLatencyProjection", "SolverConvergenceProjection", "project_frame_latency", "project_solver_convergence"], "ratchet"),
    },
)
