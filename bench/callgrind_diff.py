"""Per-request instruction differences between two callgrind dumps of `keygate serve`.

Usage: python3 bench/callgrind_diff.py OLD.out NEW.out exc|inc N [REQUESTS]
Joins `callgrind_annotate --threshold=100` outputs by function and prints the N largest
increases and the largest decreases, divided by REQUESTS (3700 for the json:1 scenario at
KEYGATE_BENCH_REQUESTS=500). See docs/PERFORMANCE.md for how the dumps are made.
"""
import subprocess, re, sys
def load(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path], capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r'\s*([\d,]+) \([ \d.]+%\)\s+(\S.*)$', line)
        if not m: continue
        name = m.group(2)
        if name.startswith(("=>", "<", "*", ">")): continue
        name = re.sub(r'^\S*?:(?=[^/])', '', name, count=1) if ':' in name else name
        name = re.sub(r' \[.*\]$', '', name)
        d[name] = d.get(name, 0) + int(m.group(1).replace(',', ''))
    return d
inc = sys.argv[3] == "inc"
a, b = load(sys.argv[1], inc), load(sys.argv[2], inc)
rows = sorted(((b.get(k,0)-a.get(k,0), a.get(k,0), b.get(k,0), k) for k in set(a)|set(b)), reverse=True)
n = int(sys.argv[5]) if len(sys.argv) > 5 else 3700
for d, x, y, k in rows[:int(sys.argv[4])]:
    print(f"{d/n:9.0f} {x/n:9.0f} {y/n:9.0f}  {k[:150]}")
print("...")
for d, x, y, k in rows[-8:]:
    print(f"{d/n:9.0f} {x/n:9.0f} {y/n:9.0f}  {k[:150]}")
