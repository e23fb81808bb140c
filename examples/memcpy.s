# Copy the first 64 KiB of the input memory to the next 64 KiB, 8 bytes at a
# time, and sum the words copied. The input must hold at least 128 KiB.
# visor run examples/memcpy.s --mem-file <(head -c 131072 /dev/zero)  ->  r0 = 0x0 (0)
    r0 = 0                      # sum of the words
    r3 = r1                     # source
    r4 = r1
    r4 += 65536                 # destination
    r5 = r1
    r5 += 65536                 # end of the source
copy_word:
    r6 = *(u64 *)(r3 + 0)
    *(u64 *)(r4 + 0) = r6
    r0 += r6
    r3 += 8
    r4 += 8
    if r3 < r5 goto copy_word
    exit
