"""ctypes types from the BTF type descriptions of `visor._visor`.

A description is a dict (see crates/python/src/types.rs); ``None`` means
the type has no faithful ctypes form, and the bytes are shown as they are.
"""

import ctypes as ct

_INTS = {
    (1, False): ct.c_uint8,
    (1, True): ct.c_int8,
    (2, False): ct.c_uint16,
    (2, True): ct.c_int16,
    (4, False): ct.c_uint32,
    (4, True): ct.c_int32,
    (8, False): ct.c_uint64,
    (8, True): ct.c_int64,
}
_FLOATS = {4: ct.c_float, 8: ct.c_double}


def raw(size):
    """Bytes of a type without a ctypes form."""
    return ct.c_ubyte * size


def ctype(desc, size):
    """The ctypes type for `desc`, or raw bytes of `size` without one."""
    made = _make(desc) if desc is not None else None
    if made is None or ct.sizeof(made) != size:
        return raw(size)
    return made


def _make(desc):
    kind = desc["kind"]
    if kind == "int":
        if desc.get("char") and desc["size"] == 1:
            return ct.c_char
        return _INTS.get((desc["size"], desc["signed"]))
    if kind == "float":
        return _FLOATS.get(desc["size"])
    if kind == "array":
        elem = _make(desc["elem"])
        return None if elem is None else elem * desc["len"]
    if kind in ("struct", "union"):
        return _record(desc)
    return None


def _record(desc):
    """A Structure or Union with the members at their BTF offsets: gaps
    are filled with ``__pad_N`` fields, so the layout is the C layout
    whatever ctypes' alignment rules would do."""
    is_union = desc["kind"] == "union"
    fields = []
    end = 0
    pads = 0
    for member in desc["members"]:
        member_type = _make(member["type"])
        if member_type is None:
            return None
        offset = member["offset"]
        if not is_union and offset > end:
            pads += 1
            fields.append(("__pad_%d" % pads, ct.c_ubyte * (offset - end)))
        name = member["name"] or "__anon_%d" % len(fields)
        fields.append((name, member_type))
        end = max(end, offset + ct.sizeof(member_type))
    if not is_union and desc["size"] > end:
        pads += 1
        fields.append(("__pad_%d" % pads, ct.c_ubyte * (desc["size"] - end)))
    base = ct.Union if is_union else ct.Structure
    name = desc["name"] or "anon"
    return type(name, (base,), {"_pack_": 1, "_fields_": fields})


def to_bytes(value, type_, size):
    """`value` (a ctypes instance, an int, or bytes) as `size` bytes of
    `type_`."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) != size:
            raise ValueError("expected %d bytes, got %d" % (size, len(value)))
        return bytes(value)
    if isinstance(value, int):
        value = type_(value)
    if isinstance(value, ct._SimpleCData) or isinstance(value, (ct.Structure, ct.Union, ct.Array)):
        data = ct.string_at(ct.addressof(value), ct.sizeof(value))
        if len(data) != size:
            raise ValueError("expected %d bytes, got %d" % (size, len(data)))
        return data
    raise TypeError("cannot use %r as %s" % (value, type_.__name__))


def from_bytes(type_, data):
    """`data` as an instance of `type_`."""
    return type_.from_buffer_copy(data)
