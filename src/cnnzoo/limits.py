"""Every bound and every choice cnnzoo accepts, defined once.

The command line (flag types and help), the model options (options.py), the training
configuration (train/config.py), the run-folder schema (train/schema.py), the input pipeline
(pipeline.py) and the image decoder (data/images.py) all read these names, so a value one of
them accepts is never refused by another: a model you can build you can train, save and load.
Nothing here imports anything (the command line reads it at start-up).

Where the copies used to disagree, the value kept and why:
- MAX_CHANNELS 64 (options.py had 4,096; the run-folder schema and TrainConfig 64): a run folder's
  meta.json is untrusted input whose channel count decides what a later process allocates, and
  docs/run-folder.md documents 64; no data set cnnzoo reads has more than 4 channels. With 4,096 in
  options.py a model could be built that could never be trained or reloaded.
- MAX_SIDE 4,096 (pipeline.py, the schema, TrainConfig and ImageFolder had 4,096; the CLI's
  --input 16,384): a model input side; the run-folder format documents 4,096, and a size the CLI
  accepted beyond it could not be stored in a run or an export's metadata. The decoder's 65,535 is
  another thing (the largest picture *file* decoded before it is scaled down) and keeps its own
  name, MAX_FILE_SIDE.
- MAX_WEIGHT_DECAY 1 (the CLI allowed 10, TrainConfig 1): every run goes through TrainConfig, so 1
  was already what was enforced; the CLI now refuses the same values at parse time.
"""
from __future__ import annotations

# --- sizes ------------------------------------------------------------------------------------
MAX_CLASSES = 100_000  # classes of a model / a run (num_classes=10**12 is a line, not a MemoryError)
MAX_CHANNELS = 64  # input channels of a model / a run (see the module docstring)
MAX_SIDE = 4_096  # one side of a model's input, in pixels (see the module docstring)
MAX_FILE_SIDE = 65_535  # one side of a picture file cnnzoo decodes (JPEG's own limit)
# 64 megapixels: a 8192 x 8192 photograph decodes (192 MiB as RGB); a 20000 x 20000 bomb does not.
MAX_PIXELS = 64 * 1024 * 1024
MAX_NAME = 1_000  # characters of a name read from a run's JSON

# --- counts -----------------------------------------------------------------------------------
MAX_COUNT = 10**6  # any other "how many" flag (--top, --rounds, --eval-every, ...)
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20  # images per batch (training, evaluation, benchmarking)
MAX_EXPORT_BATCH = 4_096  # an exported file's fixed batch dimension (and the dynamic one's bound)
MAX_THREADS = 1_024
MAX_WORLD = 4_096  # processes of a distributed run recorded in a checkpoint
MAX_SEED = 2**64 - 1

# --- training hyper-parameters -------------------------------------------------------------------
MAX_LR = 100.0
MAX_WEIGHT_DECAY = 1.0  # see the module docstring
MAX_WARMUP_EPOCHS = 1e6

# --- choices ----------------------------------------------------------------------------------
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("step", "cosine", "onecycle", "constant")
AMP_MODES = ("off", "bf16", "fp16")
# The runtimes the fast path (export.runtimes.optimize) can put behind a model.
RUNTIMES = ("eager", "compile", "onnxruntime", "openvino")
# The precisions the fast path computes in (export.precision), besides "auto"; which of them a
# CPU runs natively is read from its flags there.
PRECISIONS = ("fp32", "bf16", "int8")
