# Count the primes below 10,000 by trial division.
# visor run examples/primes.s  ->  r0 = 0x4cd (1229)
    r0 = 0                      # primes found
    r1 = 2                      # candidate n
next_candidate:
    r2 = 2                      # divisor d
try_divisor:
    r3 = r2
    r3 *= r2
    if r3 > r1 goto is_prime    # d * d > n: no divisor left
    r4 = r1
    r4 %= r2
    if r4 == 0 goto not_prime
    r2 += 1
    goto try_divisor
is_prime:
    r0 += 1
not_prime:
    r1 += 1
    if r1 < 10000 goto next_candidate
    exit
