"""Maps as BCC shows them: ``b["counts"]`` is a dict-like table for hash
maps, a list-like one for arrays, per-CPU values as lists, and readers for
perf event arrays and ring buffers. Keys and values are ctypes types made
from the object's BTF (raw bytes where it has none)."""

from collections.abc import MutableMapping

from . import _visor
from .ctypes_btf import ctype, from_bytes, to_bytes

BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2

# BCC's histogram limits: every u64 has a log2 slot below 65.
LOG2_INDEX_MAX = 65
LINEAR_INDEX_MAX = 1025


def make_table(bpf, info):
    """The table class for a map description of ``Object.maps()``."""
    kind = info["type"]
    if kind in ("percpu_hash", "lru_percpu_hash"):
        return PerCpuHash(bpf, info)
    if kind == "percpu_array":
        return PerCpuArray(bpf, info)
    if kind == "array":
        return Array(bpf, info)
    if kind == "perf_event_array":
        return PerfEventArray(bpf, info)
    if kind == "ringbuf":
        return RingBuf(bpf, info)
    return HashTable(bpf, info)


class TableBase(MutableMapping):
    """A map of the loaded object, keyed and valued by ctypes types."""

    def __init__(self, bpf, info):
        self.bpf = bpf
        self.name = info["name"]
        self.info = info
        self.Key = ctype(info["key"], info["key_size"])
        self.Leaf = ctype(info["value"], info["value_size"])

    @property
    def _object(self):
        return self.bpf._object

    def _key(self, key):
        return to_bytes(key, self.Key, self.info["key_size"])

    def _leaf(self, leaf):
        return to_bytes(leaf, self.Leaf, self.info["value_size"])

    def __getitem__(self, key):
        data = self._object.lookup(self.name, self._key(key))
        if data is None:
            raise KeyError(key)
        return self._decode(data)

    def _decode(self, data):
        return from_bytes(self.Leaf, data)

    def __setitem__(self, key, leaf):
        self._object.update(self.name, self._key(key), self._leaf(leaf), BPF_ANY)

    def __delitem__(self, key):
        if not self._object.delete(self.name, self._key(key)):
            raise KeyError(key)

    def __iter__(self):
        key = None
        while True:
            key = self._object.next_key(self.name, key)
            if key is None:
                return
            yield from_bytes(self.Key, key)

    def __len__(self):
        return sum(1 for _ in self)

    def keys(self):
        return list(self)

    def items(self):
        # An entry may go between finding its key and reading its value.
        found = []
        for key in self:
            try:
                found.append((key, self[key]))
            except KeyError:
                pass
        return found

    def values(self):
        return [value for _, value in self.items()]

    def clear(self):
        for key in self.keys():
            try:
                del self[key]
            except KeyError:
                pass

    def zero(self):
        """Every value set to zero, keys kept."""
        for key in self.keys():
            self[key] = self.Leaf()

    def _slots(self, limit):
        """Counts by slot from a histogram table keyed by slot."""
        slots = [0] * limit
        for key, value in self.items():
            index = _number(key)
            if 0 <= index < limit:
                slots[index] += _number(value)
        return slots

    def _sections(self, bucket_fn, limit):
        """For a table keyed by (bucket, slot): counts by slot per bucket."""
        fields = [f for f, _ in self.Key._fields_ if not f.startswith("__pad")]
        bucket_field, slot_field = fields[0], fields[1]
        sections = {}
        for key, value in self.items():
            bucket = getattr(key, bucket_field)
            if bucket_fn:
                bucket = bucket_fn(bucket)
            slots = sections.setdefault(bucket, [0] * limit)
            slot = getattr(key, slot_field)
            if 0 <= slot < limit:
                slots[slot] += _number(value)
        return sections

    def _print_hist(self, render, limit, section_header, section_print_fn, bucket_fn, bucket_sort_fn):
        if not hasattr(self.Key, "_fields_"):
            print(render(self._slots(limit)), end="")
            return
        sections = self._sections(bucket_fn, limit)
        buckets = list(sections)
        if bucket_sort_fn:
            buckets = bucket_sort_fn(buckets)
        for bucket in buckets:
            shown = section_print_fn(bucket) if section_print_fn else repr(bucket)
            print("\n%s = %s" % (section_header, shown))
            print(render(sections[bucket]), end="")

    def print_log2_hist(
        self,
        val_type="value",
        section_header="Bucket ptr",
        section_print_fn=None,
        bucket_fn=None,
        strip_leading_zero=None,
        bucket_sort_fn=None,
    ):
        """The table as a log2 histogram, in BCC's layout: keys are slots
        (or ``(bucket, slot)`` structs, one histogram per bucket), values
        counts."""
        strip = bool(strip_leading_zero)
        self._print_hist(
            lambda slots: _visor.log2_hist(slots, val_type, strip),
            LOG2_INDEX_MAX,
            section_header,
            section_print_fn,
            bucket_fn,
            bucket_sort_fn,
        )

    def print_linear_hist(
        self,
        val_type="value",
        section_header="Bucket ptr",
        section_print_fn=None,
        bucket_fn=None,
        bucket_sort_fn=None,
    ):
        """The table as a linear histogram, in BCC's layout: keys are values
        from 0, values counts."""
        self._print_hist(
            lambda slots: _visor.linear_hist(slots, val_type),
            LINEAR_INDEX_MAX,
            section_header,
            section_print_fn,
            bucket_fn,
            bucket_sort_fn,
        )


def _number(value):
    """The integer in a ctypes integer, a one-member struct, or raw bytes."""
    if isinstance(value, int):
        return value
    if hasattr(value, "value"):
        return value.value
    if hasattr(value, "_fields_"):
        return _number(getattr(value, value._fields_[0][0]))
    return int.from_bytes(bytes(value), "little")


class HashTable(TableBase):
    """Hash maps (and LRU, LPM trie and the other keyed maps): a dict."""


class Array(TableBase):
    """Arrays: every index from 0 to max_entries - 1 exists; ``del``
    zeroes the value, as in BCC."""

    def __len__(self):
        return self.info["max_entries"]

    def _key(self, key):
        if isinstance(key, int) and key < 0:
            key += len(self)
        if isinstance(key, int) and not 0 <= key < len(self):
            raise IndexError("array index out of range")
        return super()._key(key)

    def __delitem__(self, key):
        self[key] = self.Leaf()

    def clear(self):
        for index in range(len(self)):
            del self[index]


class PerCpuMixin:
    """Per-CPU values: a list with one value per possible CPU; ``sum``,
    ``max`` and ``average`` fold them as BCC's do."""

    def _cpus(self):
        return self._object.value_cpus(self.name)

    def _decode(self, data):
        size = self.info["value_size"]
        stride = (size + 7) // 8 * 8
        return [from_bytes(self.Leaf, data[i * stride : i * stride + size]) for i in range(len(data) // stride)]

    def _leaf(self, leaf):
        if not isinstance(leaf, (list, tuple)):
            leaf = [leaf] * self._cpus()
        size = self.info["value_size"]
        stride = (size + 7) // 8 * 8
        return b"".join(to_bytes(v, self.Leaf, size).ljust(stride, b"\0") for v in leaf)

    def sum(self, key):
        return sum(_number(v) for v in self[key])

    def max(self, key):
        return max(_number(v) for v in self[key])

    def average(self, key):
        values = self[key]
        return sum(_number(v) for v in values) / len(values)

    def zero(self):
        for key in self.keys():
            self[key] = [self.Leaf()] * self._cpus()


class PerCpuHash(PerCpuMixin, HashTable):
    pass


class PerCpuArray(PerCpuMixin, Array):
    pass


class PerfEventArray(TableBase):
    """A perf event array: ``open_perf_buffer(callback)``, then
    ``BPF.perf_buffer_poll()`` calls ``callback(cpu, data, size)`` per
    sample; ``event(data)`` decodes one when the type is known."""

    def __init__(self, bpf, info):
        super().__init__(bpf, info)
        self._event_type = None

    def open_perf_buffer(self, callback, page_cnt=8, lost_cb=None, event_type=None):
        reader = _visor.PerfReader(self._object, self.name, page_cnt)
        self._event_type = event_type
        self.bpf._perf_readers.append((reader, callback, lost_cb))

    def event(self, data, event_type=None):
        """``data`` as a ctypes struct: ``event_type`` is a ctypes type or
        names a type of the object's BTF (``"struct data_t"``); by default
        the one given to ``open_perf_buffer``."""
        return self.bpf._event(event_type or self._event_type, data)


class RingBuf(TableBase):
    """A ring buffer map: ``open_ring_buffer(callback)``, then
    ``BPF.ring_buffer_poll()`` calls ``callback(ctx, data, size)``."""

    def open_ring_buffer(self, callback, ctx=None):
        reader = _visor.RingReader(self._object, self.name)
        self.bpf._ring_readers.append((reader, callback, ctx))

    def event(self, data, event_type):
        return self.bpf._event(event_type, data)
