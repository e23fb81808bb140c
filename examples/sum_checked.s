# Sum the first 4 KiB of the input as 8-byte words, after checking that the
# input is that long. The check lets visor's verifier prove every load
# inside the input, so the JIT runs them unchecked (`--repeat` says which).
# visor run examples/sum_checked.s --mem-file <(head -c 4096 /dev/zero) --repeat 1000
    r0 = 0
    if r2 < 4096 goto done
    r3 = 0                      # words summed
next_word:
    r4 = *(u64 *)(r1 + 0)
    r0 += r4
    r1 += 8
    r3 += 1
    if r3 != 512 goto next_word
done:
    exit
