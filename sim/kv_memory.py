"""KV-cache memory managers: ``paged`` (fixed-size blocks) and ``contiguous`` (one region per sequence).

Both answer the same narrow questions (C5, memory fragmentation): can this sequence hold N tokens
(``can_allocate``), allocate (``allocate`` answers and takes in one call), free, how much is held
(``held``, ``held_tokens``), how much of the free memory is unusable (``external_waste``). Each class
carries its public ``name``, a one-line ``summary`` and its capabilities; ``KV_MANAGERS`` is the registry. Sizes are in tokens; a token
slot holds one token's K and V for every layer.

* Paged memory hands out blocks of ``block_size`` slots from anywhere, so the only waste is the unfilled
  tail of each sequence's last block: under one block per sequence.
* Contiguous memory gives each sequence one region of prompt + max-new-tokens slots, placed first-fit in
  one address space. Slots reserved for tokens not generated yet are waste now, slots past the request's
  real length are waste forever, and free holes between regions may each be too small for a newcomer
  although together they would hold it (external fragmentation).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """A run of slots in the address space (token units, numbered from 0) owned by a sequence."""

    seq_id: str
    start: int
    length: int


class PagedKV:
    """Block allocator: a sequence holding N tokens owns ceil(N / block_size) blocks, anywhere."""

    name = "paged"
    summary = "fixed-size blocks (block size in tokens) from anywhere in memory"
    knobs = ("block_size",)
    reserves_maximum = False  # a sequence grows one block at a time
    has_holes = False  # any free block serves any sequence: a finish never changes what is usable

    @classmethod
    def build(cls, capacity_tokens: int, block_size: int) -> PagedKV:
        return cls(capacity_tokens, block_size)

    def __init__(self, capacity_tokens: int, block_size: int):
        self.block_size = block_size
        self.num_blocks = capacity_tokens // block_size
        self.capacity_tokens = self.num_blocks * block_size
        # Hand out low block numbers first so the block map reads naturally; a stack of free ids.
        self._free: list[int] = list(range(self.num_blocks - 1, -1, -1))
        self._blocks: dict[str, list[int]] = {}
        self.held_tokens = 0  # slots owned by sequences (whole blocks)

    def max_tokens(self) -> int:
        """The most tokens one sequence could ever hold."""
        return self.capacity_tokens

    def rounded(self, tokens: int) -> int:
        """Slots that holding ``tokens`` tokens takes: whole blocks."""
        return -(-tokens // self.block_size) * self.block_size

    def _need(self, seq_id: str, tokens: int) -> int:
        have = len(self._blocks.get(seq_id, ()))
        return max(0, -(-tokens // self.block_size) - have)

    def can_allocate(self, seq_id: str, tokens: int) -> bool:
        """Could ``seq_id`` grow to ``tokens`` slots now? (Asks only; ``allocate`` answers and takes.)"""
        return self._need(seq_id, tokens) <= len(self._free)

    def allocate(self, seq_id: str, tokens: int) -> bool:
        """Grow ``seq_id`` to hold ``tokens`` slots; False (and no change) if there are not enough blocks."""
        need = self._need(seq_id, tokens)
        if need > len(self._free):
            return False
        if need:
            self.take_blocks(seq_id, need)
        return True

    def take_blocks(self, seq_id: str, n: int) -> None:
        """Give ``seq_id`` ``n`` more blocks (the caller checked they are free): an allocation, or a
        stretch's growth."""
        taken = self._free[-n:]
        del self._free[-n:]
        taken.reverse()  # the blocks, and their order, that n calls of take_block would give
        self._blocks.setdefault(seq_id, []).extend(taken)
        self.held_tokens += n * self.block_size

    def take_block(self, seq_id: str) -> bool:
        """Give ``seq_id`` one more block if any is free (the decode hot path's growth by one block)."""
        if not self._free:
            return False
        self._blocks.setdefault(seq_id, []).append(self._free.pop())
        self.held_tokens += self.block_size
        return True

    def take_block_each(self, seq_ids: list[str]) -> None:
        """One more block for each of ``seq_ids``, which already hold some (the caller checked enough are
        free): the blocks ``take_block`` would give them one by one, in one call (the decode cohort's growth)."""
        free, blocks = self._free, self._blocks
        for sid in seq_ids:
            blocks[sid].append(free.pop())
        self.held_tokens += len(seq_ids) * self.block_size

    def free(self, seq_id: str) -> None:
        owned = self._blocks.pop(seq_id, None)
        if owned:
            self.held_tokens -= len(owned) * self.block_size
            self._free.extend(reversed(owned))

    def held(self, seq_id: str) -> int:
        return len(self._blocks.get(seq_id, ())) * self.block_size

    @property
    def free_blocks(self) -> int:
        return len(self._free)

    def external_waste(self) -> int:
        return 0  # any free block can serve any sequence

    def largest_free_run(self) -> int:
        return len(self._free) * self.block_size

    def layout(self) -> list[Segment]:
        """Segments in address order (block k covers slots k*b .. k*b + b - 1); adjacent blocks of one
        sequence are merged into one segment, which keeps a per-iteration trace of the map small."""
        b = self.block_size
        segs = []
        for sid, owned in self._blocks.items():
            run_start = prev = None
            for blk in sorted(owned):
                if prev is not None and blk == prev + 1:
                    prev = blk
                    continue
                if run_start is not None:
                    segs.append(Segment(sid, run_start * b, (prev - run_start + 1) * b))
                run_start = prev = blk
            if run_start is not None:
                segs.append(Segment(sid, run_start * b, (prev - run_start + 1) * b))
        segs.sort(key=lambda s: s.start)
        return segs


class ContiguousKV:
    """First-fit allocator of one contiguous region per sequence; regions never grow or move."""

    name = "contiguous"
    summary = "one region of prompt + max new tokens per request, placed first-fit (holes can refuse a request)"
    knobs = ()
    reserves_maximum = True  # regions cannot grow in place
    has_holes = True  # a finish changes the holes, and with them the external waste

    @classmethod
    def build(cls, capacity_tokens: int, block_size: int) -> ContiguousKV:
        return cls(capacity_tokens)

    def __init__(self, capacity_tokens: int):
        self.capacity_tokens = capacity_tokens
        self._hole_starts: list[int] = [0]  # sorted starts of free holes
        self._hole_len: dict[int, int] = {0: capacity_tokens}
        self._regions: dict[str, tuple[int, int]] = {}
        self.held_tokens = 0

    def max_tokens(self) -> int:
        return self.capacity_tokens

    def rounded(self, tokens: int) -> int:
        return tokens

    def can_allocate(self, seq_id: str, tokens: int) -> bool:
        """Could ``seq_id`` hold ``tokens`` slots now? False while no single hole is large enough, however
        much memory is free in total (external fragmentation)."""
        if seq_id in self._regions:
            return self._regions[seq_id][1] >= tokens
        return any(self._hole_len[s] >= tokens for s in self._hole_starts)

    def allocate(self, seq_id: str, tokens: int) -> bool:
        if seq_id in self._regions:  # a region cannot grow in place: callers reserve the maximum up front
            return self._regions[seq_id][1] >= tokens
        for i, start in enumerate(self._hole_starts):
            length = self._hole_len[start]
            if length >= tokens:
                del self._hole_len[start]
                if length == tokens:
                    del self._hole_starts[i]
                else:
                    self._hole_starts[i] = start + tokens
                    self._hole_len[start + tokens] = length - tokens
                self._regions[seq_id] = (start, tokens)
                self.held_tokens += tokens
                return True
        return False

    def free(self, seq_id: str) -> None:
        region = self._regions.pop(seq_id, None)
        if region is None:
            return
        start, length = region
        self.held_tokens -= length
        i = bisect.bisect_left(self._hole_starts, start)
        # Merge with the hole after and the hole before, so holes stay maximal.
        if i < len(self._hole_starts) and self._hole_starts[i] == start + length:
            length += self._hole_len.pop(self._hole_starts[i])
            del self._hole_starts[i]
        if i > 0:
            prev = self._hole_starts[i - 1]
            if prev + self._hole_len[prev] == start:
                self._hole_len[prev] += length
                return
        self._hole_starts.insert(i, start)
        self._hole_len[start] = length

    def held(self, seq_id: str) -> int:
        return self._regions.get(seq_id, (0, 0))[1]

    def largest_free_run(self) -> int:
        return max(self._hole_len.values(), default=0)

    def external_waste(self) -> int:
        """Free slots outside the largest hole: memory that no single new region can use."""
        free = self.capacity_tokens - self.held_tokens
        return free - self.largest_free_run()

    def layout(self) -> list[Segment]:
        segs = [Segment(sid, start, length) for sid, (start, length) in self._regions.items()]
        segs.sort(key=lambda s: s.start)
        return segs


# The registry of KV memory managers (DESIGN.md section 3): name -> class.
KV_MANAGERS: dict[str, type] = {c.name: c for c in (PagedKV, ContiguousKV)}


def make_kv(memory: str, capacity_tokens: int, block_size: int):
    return KV_MANAGERS[memory].build(capacity_tokens, block_size)
