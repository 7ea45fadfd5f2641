#!/usr/bin/env python3
"""Regenerates fuzz/seeds/<target>/ from the Java fixtures (run from the repository root or
anywhere: paths are relative to this file). The seeds are committed; this script only documents
how they were made."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "tests", "fixtures", "java")
OUT = os.path.join(HERE, "seeds")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def records(seg):
    """(offset, bytes) of each message record at the start of a segment."""
    pos = 0
    while pos + 8 <= len(seg):
        total, magic = struct.unpack(">iI", seg[pos:pos + 8])
        if magic not in (0xDAA320A7, 0xDAA320AB) or total <= 0:
            break
        yield pos, seg[pos:pos + total]
        pos += total


def read(*p):
    with open(os.path.join(FIX, *p), "rb") as f:
        return f.read()


seg46 = read("rocketmq-4.6.0", "async", "store", "commitlog", "00000000000000000000")
seg53 = read("rocketmq-5.3.3", "async", "store", "commitlog", "00000000000000000000")
segcrc = read("rocketmq-5.3.3", "crc", "store", "commitlog", "00000000000000000000")
seg326 = read("rocketmq-3.2.6", "async", "store", "commitlog", "00000000000000000000")

# decode_record: single records of each flavour, a blank header, the never-written end.
recs46 = list(records(seg46))
for i, (_, r) in enumerate(recs46[:4]):
    put("decode_record", f"v46_{i}", r)
# the largest 4.6.0 record among the first 200 (big body, many properties)
put("decode_record", "v46_big", max((r for _, r in recs46[:200]), key=len))
v2 = [r for _, r in records(seg53) if struct.unpack(">I", r[4:8])[0] == 0xDAA320AB]
if v2:
    put("decode_record", "v53_v2", v2[0])
put("decode_record", "v53_crc", next(iter(records(segcrc)))[1])
put("decode_record", "v326", next(iter(records(seg326)))[1])
put("decode_record", "blank", struct.pack(">iI", 4096, 0xCBD43194))
put("decode_record", "end", bytes(16))
put("decode_record", "msgid", b"7F00000100002A9F0000000000000000")

# cq_unit_and_queue: [units-1][files-1][cut i64][file bytes]
cq = read("rocketmq-4.6.0", "async", "store", "consumequeue", "TopicTest", "0", "00000000000000000000")
put("cq_unit_and_queue", "topictest0", bytes([15, 2]) + struct.pack(">q", 5000) + cq[:16 * 20 * 3])
put("cq_unit_and_queue", "short", bytes([7, 0]) + struct.pack(">q", 1 << 40) + cq[:100])


# index_file: [slots-1][entries-2][file] built with the 4.6.0 put rules.
def java_hash(s):
    h = 0
    units = [int.from_bytes(s.encode("utf-16-be")[i:i + 2], "big") for i in range(0, len(s.encode("utf-16-be")), 2)]
    for u in units:
        h = (h * 31 + u) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def key_hash(k):
    h = abs(java_hash(k))
    return 0 if h >= 1 << 31 else h


def index_file(slots, entries, keys, t0=1_700_000_000_000):
    b = bytearray(40 + 4 * slots + 20 * entries)
    count = 1
    begin = end = 0
    for i, k in enumerate(keys):
        if count >= entries:
            break
        h = key_hash(k)
        slot = h % slots
        spos = 40 + 4 * slot
        prev = struct.unpack(">i", b[spos:spos + 4])[0]
        if prev <= 0 or prev > count:
            prev = 0
        ts = t0 + i * 1500
        if count <= 1:
            begin = ts
        diff = max(0, (ts - begin) // 1000)
        epos = 40 + 4 * slots + 20 * count
        b[epos:epos + 20] = struct.pack(">iqii", h, 1000 + 200 * i, diff, prev)
        struct.pack_into(">i", b, spos, count)
        count += 1
        end = ts
    struct.pack_into(">qqqqii", b, 0, begin, end, 1000, 1000 + 200 * (len(keys) - 1), count - 1, count)
    return bytes(b)


keys = ["T#k0", "T#k1", "T#k2", "T#k0", "T#a", "T#k3", "T#k0", "T#b", "T#k7", "T#c"]
put("index_file", "s8_e16", bytes([7, 14]) + index_file(8, 16, keys))
put("index_file", "s1_e12", bytes([0, 10]) + index_file(1, 12, keys))
put("index_file", "full", bytes([3, 6]) + index_file(4, 8, keys))

# checkpoint: Java's files (4.6.0: 24 meaningful bytes; 5.3.3: 40).
put("checkpoint", "v46", read("rocketmq-4.6.0", "crashed", "store", "checkpoint")[:64])
put("checkpoint", "v53", read("rocketmq-5.3.3", "async", "store", "checkpoint")[:64])
put("checkpoint", "short", read("rocketmq-4.6.0", "async", "store", "checkpoint")[:20])

# config_json: the fixtures' config files plus fastjson's bare numeric keys.
for v, var in [("rocketmq-4.6.0", "async"), ("rocketmq-5.3.3", "async"), ("rocketmq-3.2.6", "async")]:
    cdir = os.path.join(FIX, v, var, "store", "config")
    if not os.path.isdir(cdir):
        continue
    for name in sorted(os.listdir(cdir)):
        if name.endswith(".json"):
            put("config_json", f"{v}_{name}", read(v, var, "store", "config", name)[:4096])
put("config_json", "fastjson_offsets",
    b'{"offsetTable":{"TopicTest@g1":{0:12,1:-1,2:3e2},"%RETRY%g@g":{0:0}}}')
put("config_json", "topics",
    b'{"dataVersion":{"counter":3,"timestamp":1},"topicConfigTable":{"T":{"topicName":"T",'
    b'"readQueueNums":4,"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG","order":false}}}')

# broker_properties
put("broker_properties", "sample",
    b"brokerName=broker-a\nbrokerClusterName=DefaultCluster\nlistenPort=10911\n"
    b"storePathRootDir=/tmp/store\nmapedFileSizeCommitLog=1048576\n"
    b"mappedFileSizeConsumeQueue=6000\nflushDiskType=SYNC_FLUSH\ndeleteWhen=04;16\n"
    b"messageDelayLevel=1s 5s 10s 30s 1m 2h 1d\nmaxHashSlotNum=1000\nmaxIndexNum=4000\n"
    b"transientStorePoolEnable=true\nkey\\u0041=a\\\n  continued\n# comment\n! bang\n")

# store_recovery: [flags][cq units][cq bytes][segment], from the first 64 KiB of a 4.6.0 segment
# and the TopicTest/0 units that point into it.
units = []
for i in range(0, len(cq), 20):
    off, size, tags = struct.unpack(">qiq", cq[i:i + 20])
    if size <= 0 or off + size > 64 * 1024:
        break
    units.append(cq[i:i + 20])
seg = seg46[:64 * 1024]
put("store_recovery", "clean", bytes([0, len(units)]) + b"".join(units) + seg)
put("store_recovery", "crashed_crc_index", bytes([7, len(units)]) + b"".join(units) + seg46[:20000])
put("store_recovery", "few", bytes([5, 2]) + b"".join(units[:2]) + seg46[:3000])
put("store_recovery", "v53", bytes([3, 0]) + seg53[:20000])
