# Population count of 1,000 xorshift64 words, by shifts and masks.
# visor run examples/bitcount.s  ->  r0 = 0x7e29 (32297)
    r6 = 0x2545f4914f6cdd1d ll  # xorshift state
    r0 = 0                      # bits counted
    r7 = 0                      # words done
next_word:
    r1 = r6
    r1 <<= 13
    r6 ^= r1
    r1 = r6
    r1 >>= 7
    r6 ^= r1
    r1 = r6
    r1 <<= 17
    r6 ^= r1
    r2 = r6                     # popcount(r6) into r2
    r3 = r2
    r3 >>= 1
    r4 = 0x5555555555555555 ll
    r3 &= r4
    r2 -= r3
    r4 = 0x3333333333333333 ll
    r3 = r2
    r3 &= r4
    r2 >>= 2
    r2 &= r4
    r2 += r3
    r3 = r2
    r3 >>= 4
    r2 += r3
    r4 = 0x0f0f0f0f0f0f0f0f ll
    r2 &= r4
    r4 = 0x0101010101010101 ll
    r2 *= r4
    r2 >>= 56
    r0 += r2
    r7 += 1
    if r7 < 1000 goto next_word
    exit
