# Sourced by the single-node job scripts: the mpirun flags that work on a workstation or
# in a container (oversubscription allowed, root allowed when running as root, no
# ptrace-based shared-memory copies), exported as DISA_MPIRUN_FLAGS.
DISA_MPIRUN_FLAGS="--oversubscribe --bind-to none"
if [ "$(id -u)" = 0 ]; then DISA_MPIRUN_FLAGS="$DISA_MPIRUN_FLAGS --allow-run-as-root"; fi
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export DISA_MPIRUN_FLAGS
