#!/bin/bash
# usage (from the repository root, after cargo build --release): cpu-split.sh tcp|http OUT.json
# Server CPU from /proc/PID/stat, the load generator's (all its processes) from /usr/bin/time.
t=$1; out=$2; port=7411
target/release/mcpbench-server --transport $t --listen 127.0.0.1:$port > /tmp/srv.log 2>&1 &
spid=$!
sleep 1
if [ $t = tcp ]; then url=tcp://127.0.0.1:$port; else url=http://127.0.0.1:$port/mcp; fi
tck=$(getconf CLK_TCK)
s0=$(awk '{print $14+$15}' /proc/$spid/stat)
/usr/bin/time -f "client_cpu_s %U %S" -o /tmp/time.txt target/release/mcpbench-load connections --target $url --count 10000 --rate 10 --duration 20 --out $out > /tmp/load.log 2>&1
s1=$(awk '{print $14+$15}' /proc/$spid/stat)
kill -INT $spid; wait $spid 2>/dev/null
python3 - "$out" "$s0" "$s1" "$tck" <<'P'
import json,sys
d=json.load(open(sys.argv[1])); m=d['messages']
srv=(int(sys.argv[3])-int(sys.argv[2]))/int(sys.argv[4])
u,s=open('/tmp/time.txt').read().strip().splitlines()[-1].split()[1:3]
cli=float(u)+float(s)
n=m['answered']
print(f"achieved {m['achieved_per_s']:.0f}/s answered {n} lost {m['lost']} server {srv:.1f}s ({srv/n*1e6:.1f} us/call) client {cli:.1f}s ({cli/n*1e6:.1f} us/call)")
P
