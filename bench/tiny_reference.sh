# Sourced by the bench scripts: tiny_reference DISA WORK TASK_OPTIONS... creates a tiny qwen2
# model and warm-starts it for 150 steps on the task (WORK/init -> WORK/ref); prints WORK/ref.
tiny_reference() {
  local disa=$1 work=$2
  shift 2
  "$disa" model init --arch qwen2 --size tiny --seed 3 --out "$work/init" --log.level warn >&2
  "$disa" warm-start --warm-start.model "$work/init" --warm-start.out "$work/ref" "$@" \
    --task.count 200 --warm-start.steps 150 --warm-start.batch-size 32 --warm-start.lr 1e-2 \
    --warm-start.eval-samples 0 --log.level warn >&2
  echo "$work/ref"
}
