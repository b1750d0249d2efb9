"""DeviceContext: where a run computes. The CPU threads, the process group (torchrun) and the
device, what --amp needs of that device, determinism, and how the model is wrapped for it
(channels_last, DistributedDataParallel, torch.compile).

    with DeviceContext(config) as ctx:      # the process group is left on exit
        net = ctx.wrap(model)

Every process of a torchrun job builds one; `collective` and `all_agree` are how they stay in
step (a refusal on rank 0, a stop asked on any process).
"""
from __future__ import annotations

import os
from typing import Any, Callable

import torch
from torch import nn

from ..errors import CheckpointError, CnnzooError, OptionError
from ..export.machine import native_bf16
from .config import ResolvedConfig
from .distributed import setup, teardown
from .threads import apply as apply_threads


class DeviceContext:
    """The threads, the process group and the device of one run, checked against its config."""

    def __init__(self, config: ResolvedConfig) -> None:
        self.threads = apply_threads(config.threads)
        self.dist, self.device = setup(config.device)
        self.amp = config.amp
        self.channels_last = config.channels_last
        self.compile = config.compile
        try:
            self._check(config)
        except BaseException:
            teardown(self.dist)
            raise
        if config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def _check(self, c: ResolvedConfig) -> None:
        world = self.dist.world
        if c.batch_size % world:
            raise OptionError(f"batch size {c.batch_size} does not split over {world} "
                              f"processes: use a multiple of {world}")
        if c.amp == "fp16" and self.device.type != "cuda":
            raise OptionError("--amp fp16 needs a CUDA GPU: use --amp bf16 (or off) on the CPU")
        if c.amp == "bf16" and self.device.type == "cpu" and not native_bf16():
            # emulated bf16 autocast made resnet20 training 10x slower than float32 on such a CPU
            raise OptionError("--amp bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX): this one "
                              "would emulate it, several times slower than float32; use --amp off")

    def __enter__(self) -> "DeviceContext":
        return self

    def __exit__(self, *exc: Any) -> None:
        teardown(self.dist)

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def wrap(self, model: nn.Module) -> nn.Module:
        """Move the model to the device (in place) and return what the steps call: the model,
        under DDP when there are several processes, compiled with --compile."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        net: nn.Module = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if self.compile:
            net = torch.compile(net)  # type: ignore[assignment]  # an nn.Module in practice
        return net

    def scaler(self) -> torch.amp.GradScaler:
        """The gradient scaler --amp fp16 needs (a no-op one otherwise)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")

    def sync_every(self) -> int:
        """Steps between checks of the losses: each check waits for a GPU, so not every step."""
        return 1 if (self.device.type == "cpu" or self.dist.enabled) else 25

    def collective(self, work: Callable[[], Any]) -> Any:
        """Run `work` on rank 0 and hand its result (or its error, as one line) to every process,
        so a refusal on rank 0 does not leave the others waiting forever."""
        result: Any = None
        error: str | None = None
        if self.dist.is_main:
            try:
                result = work()
            except CnnzooError as e:
                if not self.dist.enabled:
                    raise
                error = str(e)
        result, error = self.dist.broadcast((result, error))
        if error is not None:
            raise CheckpointError(error)
        return result

    def any_process(self, asked: bool) -> bool:
        """Whether any process asks (to stop). Under torchrun every process must stop at the same
        step, or the next all-reduce hangs; alone, no device round trip (a GPU would sync)."""
        if not self.dist.enabled:
            return asked
        flag = torch.tensor([1.0 if asked else 0.0], dtype=torch.float64,
                            device=self.device if self.device.type == "cuda" else "cpu")
        self.dist.all_reduce(flag)
        return bool(flag.item())

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
