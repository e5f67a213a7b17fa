"""The order in which training sees its data: reproducible, sharded across processes, resumable."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from zoo.errors import DataError


class ShardedEpochSampler(torch.utils.data.Sampler[int]):
    """Shuffles by (seed, epoch), gives each process its own shard, and can start mid-epoch.

    Only whole batches are used (the remainder of an epoch is dropped), so every process runs the
    same number of steps and a resumed run can skip exactly the batches it has already seen.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = size // (batch_size * world_size)
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        used = order[: self.batches_per_epoch * self.batch_size * self.world_size]
        shard = used[self.rank :: self.world_size]
        return iter(shard[self.skip_batches * self.batch_size :].tolist())

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.skip_batches) * self.batch_size


def training_batches(
    dataset, batch_size: int, seed: int, rank: int, world_size: int, num_workers: int, pin_memory: bool, skip: int
) -> Iterator:
    """Batches for training, endlessly, epoch after epoch, starting after the first `skip` batches
    this process would have seen (what a resumed run has already trained on). Too small a dataset is
    an error here, before the run starts, not at its first step."""
    if len(dataset) < batch_size * world_size:
        raise DataError(
            f"the dataset has {len(dataset)} items, fewer than one batch ({batch_size * world_size}); "
            "lower train.batch_size or add data"
        )
    sampler = ShardedEpochSampler(len(dataset), batch_size, seed, rank, world_size)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
    return _endless(sampler, loader, skip)


def _endless(sampler: ShardedEpochSampler, loader, skip: int) -> Iterator:
    epoch, skip = divmod(skip, sampler.batches_per_epoch)
    while True:
        sampler.set_epoch(epoch, skip)
        yield from loader
        epoch, skip = epoch + 1, 0
