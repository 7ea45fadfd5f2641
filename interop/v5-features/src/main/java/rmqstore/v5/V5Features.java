package rmqstore.v5;

import com.alibaba.fastjson2.JSON;
import com.alibaba.fastjson2.JSONWriter;
import java.io.File;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.zip.CRC32;
import org.apache.rocketmq.common.BrokerConfig;
import org.apache.rocketmq.common.MixAll;
import org.apache.rocketmq.common.TopicAttributes;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.UtilAll;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageExtBatch;
import org.apache.rocketmq.common.message.MessageExtBrokerInner;
import org.apache.rocketmq.common.sysflag.MessageSysFlag;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.PutMessageResult;
import org.apache.rocketmq.store.SelectMappedBufferResult;
import org.apache.rocketmq.store.config.MessageStoreConfig;
import org.apache.rocketmq.store.ha.autoswitch.BrokerMetadata;
import org.apache.rocketmq.store.ha.autoswitch.EpochFileCache;
import org.apache.rocketmq.store.ha.autoswitch.TempBrokerMetadata;
import org.apache.rocketmq.remoting.protocol.EpochEntry;
import org.apache.rocketmq.store.queue.ConsumeQueueInterface;
import org.apache.rocketmq.store.queue.CqUnit;
import org.apache.rocketmq.store.queue.ReferredIterator;
import org.apache.rocketmq.store.stats.BrokerStatsManager;
import org.apache.rocketmq.store.timer.Slot;
import org.apache.rocketmq.store.timer.TimerCheckpoint;
import org.apache.rocketmq.store.timer.TimerMessageStore;
import org.apache.rocketmq.store.timer.TimerMetrics;

/**
 * Writes RocketMQ 5.x stores with one 5.x store feature on each, through the published
 * rocketmq-store 5.3.3 jar (unpatched), and reads stores back with it.
 *
 * <pre>
 *   write FEATURE OUTDIR   writes OUTDIR/store and OUTDIR/manifest.json
 *   read  FEATURE STORE OUT.json   loads STORE (a copy!) with the same config, dumps what Java reads
 *   check-rmqstore STORE EXPECT.json   loads a store rmqstore wrote in 5.x mode with the 5.3.3
 *                  store (forceVerifyPropCRC on) and checks every expected message; exit 0 if all match
 * </pre>
 *
 * FEATURE: batchcq, lmq, timer, epoch, compaction.
 */
public final class V5Features {
    static final String BATCH_TOPIC = "BatchTopic";
    static final String LMQ_PARENT = "LmqParent";
    static final String PLAIN_TOPIC = "TopicTest";
    static final String COMPACT_TOPIC = "CompactTopic";
    /** Compaction consume-queue file: 8 units of 46 bytes (7 units and the end marker). */
    static final int COMPACTION_CQ_FILE = 8 * 46;
    /** Asked-for compaction log size; CompactionLog makes it 5 CQ files' worth (1840 bytes). */
    static final int COMPACTION_LOG_FILE = 1024;
    /**
     * The first compaction of a queue comes 11-21 s after its log was created, the next as long
     * after that: long enough for the second round of puts and the shutdown (which sleeps 3 s)
     * to end before it, so the store keeps uncompacted, rolled-over segments after the compacted one.
     */
    static final int COMPACTION_INTERVAL_MS = 10000;
    static final InetSocketAddress STORE_HOST = new InetSocketAddress("127.0.0.1", 10911);
    static final InetSocketAddress BORN_HOST = new InetSocketAddress("127.0.0.2", 40001);

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: write FEATURE OUTDIR | read FEATURE STORE OUT.json");
            System.exit(2);
        }
        String cmd = args[0];
        String feature = args[1];
        int rc;
        if (cmd.equals("write")) {
            rc = write(feature, Path.of(args[2]));
        } else if (cmd.equals("check-rmqstore")) {
            rc = checkRmqstore(Path.of(args[1]), Path.of(args[2]));
        } else if (cmd.equals("read")) {
            rc = read(feature, Path.of(args[2]), Path.of(args[3]));
        } else {
            System.err.println("unknown command " + cmd);
            rc = 2;
        }
        // Store threads (timer, flush) are not daemons.
        System.exit(rc);
    }

    static MessageStoreConfig config(String feature, Path root) {
        MessageStoreConfig c = new MessageStoreConfig();
        c.setStorePathRootDir(root.toString());
        c.setStorePathCommitLog(root.resolve("commitlog").toString());
        c.setMappedFileSizeCommitLog(1024 * 1024);
        c.setMappedFileSizeConsumeQueue(4000);
        c.setMaxHashSlotNum(1000);
        c.setMaxIndexNum(4000);
        c.setHaListenPort(0);
        c.setEnableCompaction(false);
        switch (feature) {
            case "batchcq":
                // 10 units of 46 bytes per file, so the batch consume queue rolls over.
                c.setMapperFileSizeBatchConsumeQueue(10 * 46);
                break;
            case "lmq":
                c.setEnableLmq(true);
                c.setEnableMultiDispatch(true);
                break;
            case "timer":
                c.setTimerWheelEnable(true);
                // 40 units of 52 bytes (plus room for the 16-byte blank) per file: rolls over.
                c.setMappedFileSizeTimerLog(40 * 52 + 16);
                break;
            case "epoch":
                // epochFileCheckpoint is written through EpochFileCache, brokerIdentity and
                // brokerIdentity-temp through BrokerMetadata / TempBrokerMetadata (controller mode
                // itself needs a controller).
                break;
            case "compaction":
                // A master with enableCompaction (the 5.3.3 default): CommitLogDispatcherCompaction
                // copies every record of a cleanup.policy=COMPACTION topic into compaction/.
                c.setEnableCompaction(true);
                c.setCompactionCqMappedFileSize(COMPACTION_CQ_FILE);
                c.setCompactionMappedFileSize(COMPACTION_LOG_FILE);
                c.setCompactionScheduleInternal(COMPACTION_INTERVAL_MS);
                c.setCompactionThreadNum(2);
                // The offset map is a heap buffer of this size per thread (default 100 MiB).
                c.setMaxOffsetMapSize(1024 * 1024);
                break;
            default:
                throw new IllegalArgumentException("unknown feature " + feature);
        }
        return c;
    }

    static ConcurrentMap<String, TopicConfig> topics() {
        ConcurrentMap<String, TopicConfig> t = new ConcurrentHashMap<>();
        TopicConfig batch = new TopicConfig(BATCH_TOPIC, 2, 2);
        Map<String, String> attrs = new HashMap<>();
        attrs.put(TopicAttributes.QUEUE_TYPE_ATTRIBUTE.getName(), "BatchCQ");
        batch.setAttributes(attrs);
        t.put(BATCH_TOPIC, batch);
        t.put(PLAIN_TOPIC, new TopicConfig(PLAIN_TOPIC, 1, 1));
        t.put(LMQ_PARENT, new TopicConfig(LMQ_PARENT, 1, 1));
        TopicConfig compact = new TopicConfig(COMPACT_TOPIC, 2, 2);
        Map<String, String> cattrs = new HashMap<>();
        cattrs.put(TopicAttributes.CLEANUP_POLICY_ATTRIBUTE.getName(), "COMPACTION");
        compact.setAttributes(cattrs);
        t.put(COMPACT_TOPIC, compact);
        return t;
    }

    static DefaultMessageStore open(MessageStoreConfig c) throws Exception {
        return open(c, topics());
    }

    static DefaultMessageStore open(MessageStoreConfig c, ConcurrentMap<String, TopicConfig> topics) throws Exception {
        BrokerConfig bc = new BrokerConfig();
        bc.setBrokerClusterName("DefaultCluster");
        return new DefaultMessageStore(c, new BrokerStatsManager("v5features", true), null, bc, topics);
    }

    static MessageExtBrokerInner inner(String topic, int queueId, byte[] body, String tags, String keys) {
        MessageExtBrokerInner m = new MessageExtBrokerInner();
        m.setTopic(topic);
        m.setQueueId(queueId);
        m.setBody(body);
        m.setFlag(0);
        if (tags != null) {
            MessageAccessor.putProperty(m, MessageConst.PROPERTY_TAGS, tags);
        }
        if (keys != null) {
            MessageAccessor.putProperty(m, MessageConst.PROPERTY_KEYS, keys);
        }
        MessageAccessor.putProperty(m, MessageConst.PROPERTY_CLUSTER, "DefaultCluster");
        m.setBornTimestamp(System.currentTimeMillis());
        m.setBornHost(BORN_HOST);
        m.setStoreHost(STORE_HOST);
        m.setTagsCode(tags == null ? 0 : MessageExtBrokerInner.tagsString2tagsCode(tags));
        return m;
    }

    static byte[] body(int i, int len) {
        byte[] b = new byte[len];
        for (int k = 0; k < len; k++) {
            b[k] = (byte) ('a' + (i * 7 + k) % 26);
        }
        return b;
    }

    static Map<String, Object> record(String kind, MessageExtBrokerInner m, PutMessageResult r) throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("kind", kind);
        o.put("putStatus", r.getPutMessageStatus().name());
        o.put("topic", m.getTopic());
        o.put("queueId", m.getQueueId());
        if (r.getAppendMessageResult() != null) {
            o.put("queueOffset", r.getAppendMessageResult().getLogicsOffset());
            o.put("wroteOffset", r.getAppendMessageResult().getWroteOffset());
            o.put("wroteBytes", r.getAppendMessageResult().getWroteBytes());
            o.put("msgNum", r.getAppendMessageResult().getMsgNum());
            o.put("msgId", r.getAppendMessageResult().getMsgId());
            o.put("storeTimestamp", r.getAppendMessageResult().getStoreTimestamp());
        }
        o.put("sysFlag", m.getSysFlag());
        o.put("tags", m.getTags());
        o.put("tagsCode", m.getTagsCode());
        o.put("propertiesString", m.getPropertiesString());
        o.put("bodyLength", m.getBody().length);
        o.put("bodySha256", sha256(m.getBody()));
        CRC32 crc = new CRC32();
        crc.update(m.getBody());
        o.put("bodyCrc", (int) (crc.getValue() & 0x7FFFFFFF));
        return o;
    }

    static String sha256(byte[] b) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256").digest(b);
        StringBuilder s = new StringBuilder();
        for (byte x : d) {
            s.append(String.format("%02x", x));
        }
        return s.toString();
    }

    static Map<String, Object> env(String feature, MessageStoreConfig c) {
        Map<String, Object> env = new LinkedHashMap<>();
        env.put("rocketmqVersion", "5.3.3");
        env.put("artifact", "org.apache.rocketmq:rocketmq-store:5.3.3 (Maven Central, unpatched)");
        env.put("javaVersion", System.getProperty("java.version"));
        env.put("userTimezone", java.util.TimeZone.getDefault().getID());
        env.put("generator", "interop/v5-features (rmqstore.v5.V5Features write " + feature + ")");
        return env;
    }

    static Map<String, Object> configMap(MessageStoreConfig c, String feature) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mappedFileSizeCommitLog", c.getMappedFileSizeCommitLog());
        m.put("mappedFileSizeConsumeQueue", c.getMappedFileSizeConsumeQueue());
        m.put("maxHashSlotNum", c.getMaxHashSlotNum());
        m.put("maxIndexNum", c.getMaxIndexNum());
        m.put("flushDiskType", c.getFlushDiskType().name());
        m.put("enableCompaction", c.isEnableCompaction());
        m.put("mapperFileSizeBatchConsumeQueue", c.getMapperFileSizeBatchConsumeQueue());
        m.put("enableLmq", c.isEnableLmq());
        m.put("enableMultiDispatch", c.isEnableMultiDispatch());
        m.put("timerWheelEnable", c.isTimerWheelEnable());
        m.put("mappedFileSizeTimerLog", c.getMappedFileSizeTimerLog());
        m.put("timerPrecisionMs", c.getTimerPrecisionMs());
        m.put("timerRollWindowSlot", c.getTimerRollWindowSlot());
        m.put("enabledAppendPropCRC", c.isEnabledAppendPropCRC());
        m.put("autoMessageVersionOnTopicLen", c.isAutoMessageVersionOnTopicLen());
        if (feature.equals("compaction")) {
            m.put("compactionMappedFileSize", c.getCompactionMappedFileSize());
            m.put("compactionCqMappedFileSize", c.getCompactionCqMappedFileSize());
            m.put("compactionScheduleInternal", c.getCompactionScheduleInternal());
            m.put("compactionThreadNum", c.getCompactionThreadNum());
            m.put("maxOffsetMapSize", c.getMaxOffsetMapSize());
        }
        return m;
    }

    static void writeJson(Path p, Object o) throws Exception {
        Files.writeString(p, JSON.toJSONString(o, JSONWriter.Feature.PrettyFormat, JSONWriter.Feature.WriteNulls) + "\n");
    }

    static int write(String feature, Path out) throws Exception {
        Path root = out.resolve("store");
        if (Files.exists(root)) {
            throw new IllegalStateException(root + " exists");
        }
        Files.createDirectories(root);
        MessageStoreConfig c = config(feature, root);
        DefaultMessageStore store = open(c);
        TimerMessageStore timer = null;
        if (feature.equals("timer")) {
            TimerCheckpoint cp = new TimerCheckpoint(root.resolve("config").resolve("timercheck").toString());
            TimerMetrics metrics = new TimerMetrics(root.resolve("config").resolve("timermetrics").toString());
            timer = new TimerMessageStore(store, c, cp, metrics, null);
            store.setTimerMessageStore(timer);
        }
        if (!store.load()) {
            throw new IllegalStateException("load failed");
        }
        if (timer != null && !timer.load()) {
            throw new IllegalStateException("timer load failed");
        }
        store.start();
        if (timer != null) {
            // Enqueue only: pending timers stay in the wheel and the timer log.
            timer.start(false);
        }
        List<Object> messages = new ArrayList<>();
        Map<String, Object> extra = new LinkedHashMap<>();
        switch (feature) {
            case "batchcq":
                writeBatchCq(store, messages);
                break;
            case "lmq":
                writeLmq(store, messages);
                break;
            case "timer":
                writeTimer(store, timer, c, messages, extra);
                break;
            case "epoch":
                writeEpoch(store, root, messages, extra);
                break;
            case "compaction":
                writeCompaction(store, root, messages, extra);
                break;
            default:
                throw new IllegalArgumentException(feature);
        }
        // let reput/flush catch up
        long deadline = System.currentTimeMillis() + 10000;
        while (store.dispatchBehindBytes() > 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        Thread.sleep(1500);
        if (timer != null) {
            timer.shutdown();
        }
        store.shutdown();
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("env", env(feature, c));
        manifest.put("variant", feature);
        manifest.put("storeConfigChanged", configMap(c, feature));
        manifest.putAll(extra);
        manifest.put("messages", messages);
        writeJson(out.resolve("manifest.json"), manifest);
        return 0;
    }

    static PutMessageResult put(DefaultMessageStore store, MessageExtBrokerInner m) {
        m.setPropertiesString(MessageDecoder.messageProperties2String(m.getProperties()));
        PutMessageResult r = store.putMessage(m);
        if (!r.isOk()) {
            throw new IllegalStateException("put failed: " + r);
        }
        return r;
    }

    static void writeBatchCq(DefaultMessageStore store, List<Object> out) throws Exception {
        int n = 0;
        for (int round = 0; round < 6; round++) {
            for (int q = 0; q < 2; q++) {
                // A plain message on a BatchCQ topic: one unit, batch size 1.
                MessageExtBrokerInner m = inner(BATCH_TOPIC, q, body(n, 40 + n), "TagA", "single-" + n);
                MessageClientIDSetter.setUniqID(m);
                out.add(record("single", m, put(store, m)));
                n++;
                // An inner batch exactly as the 5.x broker builds it (SendMessageProcessor
                // #createMessageExtBatch for a BatchCQ topic with a UNIQ_KEY): the client's encoded
                // batch as one body, NEED_UNWRAP | INNER_BATCH, INNER_NUM = number of inner messages.
                int inner = 2 + (round + q) % 4;
                List<Message> items = new ArrayList<>();
                for (int k = 0; k < inner; k++) {
                    Message it = new Message(BATCH_TOPIC, "TagB", "item-" + n + "-" + k, body(n + k, 20 + k));
                    items.add(it);
                }
                MessageExtBatch b = new MessageExtBatch();
                b.setTopic(BATCH_TOPIC);
                b.setQueueId(q);
                b.setBody(MessageDecoder.encodeMessages(items));
                b.setBornTimestamp(System.currentTimeMillis());
                b.setBornHost(BORN_HOST);
                b.setStoreHost(STORE_HOST);
                MessageAccessor.putProperty(b, MessageConst.PROPERTY_CLUSTER, "DefaultCluster");
                MessageClientIDSetter.setUniqID(b);
                b.setSysFlag(b.getSysFlag() | MessageSysFlag.NEED_UNWRAP_FLAG | MessageSysFlag.INNER_BATCH_FLAG);
                b.setInnerBatch(true);
                int innerNum = MessageDecoder.countInnerMsgNum(ByteBuffer.wrap(b.getBody()));
                MessageAccessor.putProperty(b, MessageConst.PROPERTY_INNER_NUM, String.valueOf(innerNum));
                b.setPropertiesString(MessageDecoder.messageProperties2String(b.getProperties()));
                PutMessageResult r = store.putMessage(b);
                if (!r.isOk()) {
                    throw new IllegalStateException("inner batch put failed: " + r);
                }
                Map<String, Object> rec = record("innerBatch", b, r);
                rec.put("innerNum", innerNum);
                out.add(rec);
                n += inner;
            }
        }
        // A plain topic next to it, so normal consume queues and batch ones coexist.
        for (int i = 0; i < 3; i++) {
            MessageExtBrokerInner m = inner(PLAIN_TOPIC, 0, body(100 + i, 30), "TagC", "plain-" + i);
            MessageClientIDSetter.setUniqID(m);
            out.add(record("plain", m, put(store, m)));
        }
    }

    static void writeLmq(DefaultMessageStore store, List<Object> out) throws Exception {
        String[][] targets = {
            {"%LMQ%a"}, {"%LMQ%a", "%LMQ%b"}, {"%LMQ%b", "%LMQ%c", "%LMQ%a"}, {"%LMQ%c"},
        };
        for (int i = 0; i < 12; i++) {
            String[] t = targets[i % targets.length];
            MessageExtBrokerInner m = inner(LMQ_PARENT, 0, body(i, 32 + i), "TagL", "lmq-" + i);
            MessageClientIDSetter.setUniqID(m);
            MessageAccessor.putProperty(m, MessageConst.PROPERTY_INNER_MULTI_DISPATCH,
                String.join(MixAll.LMQ_DISPATCH_SEPARATOR, t));
            PutMessageResult r = put(store, m);
            Map<String, Object> rec = record("lmq", m, r);
            rec.put("lmqTargets", Arrays.asList(t));
            rec.put("multiQueueOffset", m.getProperty(MessageConst.PROPERTY_INNER_MULTI_QUEUE_OFFSET));
            out.add(rec);
        }
        MessageExtBrokerInner m = inner(PLAIN_TOPIC, 0, body(99, 10), "TagC", "plain-0");
        MessageClientIDSetter.setUniqID(m);
        out.add(record("plain", m, put(store, m)));
    }

    static void writeTimer(DefaultMessageStore store, TimerMessageStore timer, MessageStoreConfig c,
        List<Object> out, Map<String, Object> extra) throws Exception {
        long now = System.currentTimeMillis();
        // Delays: minutes to hours ahead (stay in the wheel), and one past the roll window
        // (timerRollWindowSlot = 2 days) which the timer log marks MAGIC_ROLL.
        long[] delays = new long[50];
        for (int i = 0; i < delays.length; i++) {
            delays[i] = 60_000L * (5 + (i % 7)) + 1000L * i;
        }
        delays[7] = 3600_000L * 3;
        delays[8] = 3600_000L * 3; // same slot as #7: a chain of two in one slot
        delays[20] = 86400_000L * 2 + 3600_000L * 5; // beyond the roll window
        List<Long> deliver = new ArrayList<>();
        for (int i = 0; i < delays.length; i++) {
            MessageExtBrokerInner m = inner("TimerUser", 0, body(i, 24 + i % 5), "TagT", "timer-" + i);
            MessageClientIDSetter.setUniqID(m);
            long deliverMs = now + delays[i];
            if (i == 8) {
                deliverMs = (Long) deliver.get(7);
            }
            MessageAccessor.putProperty(m, MessageConst.PROPERTY_TIMER_DELIVER_MS, String.valueOf(deliverMs));
            transformTimer(m, c.getTimerPrecisionMs());
            PutMessageResult r = put(store, m);
            Map<String, Object> rec = record("timer", m, r);
            rec.put("deliverMs", deliverMs);
            rec.put("timerOutMs", Long.parseLong(m.getProperty(MessageConst.PROPERTY_TIMER_OUT_MS)));
            out.add(rec);
            deliver.add(deliverMs);
        }
        long deadline = System.currentTimeMillis() + 20000;
        while (timer.getQueueOffset() < delays.length && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
        }
        extra.put("timerEnqueuedQueueOffset", timer.getQueueOffset());
    }

    /**
     * What the 5.x broker does to a message with TIMER_DELIVER_MS before it reaches the store
     * (broker HookUtils#handleScheduleMessage / #transformTimerMessage), for a deliver time
     * within timerMaxDelaySec.
     */
    static void transformTimer(MessageExtBrokerInner m, int precisionMs) {
        long deliverMs = Long.parseLong(m.getProperty(MessageConst.PROPERTY_TIMER_DELIVER_MS));
        MessageAccessor.putProperty(m, MessageConst.PROPERTY_TIMER_OUT_MS, String.valueOf(deliverMs));
        MessageAccessor.putProperty(m, MessageConst.PROPERTY_REAL_TOPIC, m.getTopic());
        MessageAccessor.putProperty(m, MessageConst.PROPERTY_REAL_QUEUE_ID, String.valueOf(m.getQueueId()));
        m.setPropertiesString(MessageDecoder.messageProperties2String(m.getProperties()));
        m.setTopic(TimerMessageStore.TIMER_TOPIC);
        m.setQueueId(0);
    }

    static void writeEpoch(DefaultMessageStore store, Path root, List<Object> out, Map<String, Object> extra)
        throws Exception {
        EpochFileCache cache = new EpochFileCache(root.resolve("epochFileCheckpoint").toString());
        cache.initCacheFromFile();
        List<Object> entries = new ArrayList<>();
        for (int e = 1; e <= 3; e++) {
            long start = store.getMaxPhyOffset();
            if (!cache.appendEntry(new EpochEntry(e, start))) {
                throw new IllegalStateException("append epoch " + e);
            }
            Map<String, Object> ent = new LinkedHashMap<>();
            ent.put("epoch", e);
            ent.put("startOffset", start);
            entries.add(ent);
            for (int i = 0; i < 4; i++) {
                MessageExtBrokerInner m = inner(PLAIN_TOPIC, 0, body(e * 10 + i, 50), "TagE", "epoch-" + e + "-" + i);
                MessageClientIDSetter.setUniqID(m);
                out.add(record("plain", m, put(store, m)));
            }
        }
        extra.put("epochEntries", entries);
        // Controller-mode broker identity, as ReplicasManager writes it: brokerIdentity once the
        // controller confirmed the id, brokerIdentity-temp while an id is being applied for.
        String idPath = store.getMessageStoreConfig().getStorePathBrokerIdentity();
        BrokerMetadata id = new BrokerMetadata(idPath);
        id.updateAndPersist("DefaultCluster", "broker-a", 1L);
        // Written twice: MetadataFile#writeToFile deletes the file first, so no .bak is left.
        id.updateAndPersist("DefaultCluster", "broker-a", 1L);
        TempBrokerMetadata temp = new TempBrokerMetadata(idPath + "-temp");
        temp.updateAndPersist("DefaultCluster", "broker-a", 2L, "127.0.0.1:10911;" + System.currentTimeMillis());
        extra.put("brokerIdentity", identity(id, Path.of(idPath)));
        extra.put("brokerIdentityTemp", identity(temp, Path.of(idPath + "-temp")));
    }

    static Map<String, Object> identity(BrokerMetadata m, Path file) throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("file", file.getFileName().toString());
        o.put("content", Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : null);
        o.put("clusterName", m.getClusterName());
        o.put("brokerName", m.getBrokerName());
        o.put("brokerId", m.getBrokerId());
        if (m instanceof TempBrokerMetadata) {
            o.put("registerCheckCode", ((TempBrokerMetadata) m).getRegisterCheckCode());
        }
        o.put("isLoaded", m.isLoaded());
        return o;
    }

    /**
     * Keyed messages on the COMPACTION topic's two queues (keys repeat; some bodies are empty:
     * tombstones), with a plain topic interleaved. Waits until CompactionLog#doCompaction has run
     * on both queues (it persists compaction/position-checkpoint), then puts more so the current
     * file follows the compacted ones.
     */
    static void writeCompaction(DefaultMessageStore store, Path root, List<Object> out, Map<String, Object> extra)
        throws Exception {
        int n = 0;
        for (int i = 0; i < 30; i++) {
            for (int q = 0; q < 2; q++) {
                putCompact(store, q, i, n++, out);
            }
            if (i % 5 == 0) {
                MessageExtBrokerInner p = inner(PLAIN_TOPIC, 0, body(n, 40), "TagP", "plain-" + i);
                MessageClientIDSetter.setUniqID(p);
                out.add(record("plain", p, put(store, p)));
            }
        }
        Path cp = root.resolve("compaction").resolve("position-checkpoint");
        long deadline = System.currentTimeMillis() + 60000;
        String cpText = "";
        while (true) {
            cpText = Files.exists(cp) ? Files.readString(cp) : "";
            if (cpText.contains("\"" + COMPACT_TOPIC + "_0\"") && cpText.contains("\"" + COMPACT_TOPIC + "_1\"")) {
                break;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("no compaction of both " + COMPACT_TOPIC + " queues within 60 s; "
                    + cp + " holds: " + cpText);
            }
            Thread.sleep(100);
        }
        extra.put("positionCheckpointAfterFirstCompaction", cpText);
        for (int i = 30; i < 50; i++) {
            for (int q = 0; q < 2; q++) {
                putCompact(store, q, i, n++, out);
            }
        }
    }

    /** Key k(i % 6); every 7th message of a key cycle is a tombstone (empty body). */
    static void putCompact(DefaultMessageStore store, int q, int i, int n, List<Object> out) throws Exception {
        String key = "key-" + q + "-" + (i % 6);
        boolean tombstone = i % 7 == 3;
        byte[] b = tombstone ? new byte[0] : body(n, 30 + (n * 13) % 90);
        MessageExtBrokerInner m = inner(COMPACT_TOPIC, q, b, "TagC", key);
        MessageClientIDSetter.setUniqID(m);
        Map<String, Object> r = record(tombstone ? "tombstone" : "keyed", m, put(store, m));
        r.put("key", key);
        out.add(r);
    }

    // ---------------------------------------------------------------- rmqstore-written stores

    /**
     * Loads a store that rmqstore wrote in 5.x mode, as a 5.3.3 broker with the settings
     * EXPECT.json names would, and checks that recovery keeps every byte (with
     * {@code forceVerifyPropCRC} every record's __CRC32# must verify, or recovery truncates) and
     * that every expected message reads back by queue offset and by key.
     */
    static int checkRmqstore(Path root, Path expectJson) throws Exception {
        com.alibaba.fastjson2.JSONObject exp = JSON.parseObject(Files.readString(expectJson));
        com.alibaba.fastjson2.JSONObject sc = exp.getJSONObject("storeConfig");
        MessageStoreConfig c = new MessageStoreConfig();
        c.setStorePathRootDir(root.toString());
        c.setStorePathCommitLog(root.resolve("commitlog").toString());
        c.setMappedFileSizeCommitLog(sc.getIntValue("mappedFileSizeCommitLog"));
        c.setMappedFileSizeConsumeQueue(sc.getIntValue("mappedFileSizeConsumeQueue"));
        c.setMaxHashSlotNum(sc.getIntValue("maxHashSlotNum"));
        c.setMaxIndexNum(sc.getIntValue("maxIndexNum"));
        c.setEnabledAppendPropCRC(sc.getBooleanValue("enabledAppendPropCRC"));
        c.setForceVerifyPropCRC(sc.getBooleanValue("enabledAppendPropCRC"));
        // LMQ stores: Java reads the %LMQ% queues rmqstore dispatched (and would redo them).
        c.setEnableLmq(sc.getBooleanValue("enableLmq"));
        c.setEnableMultiDispatch(sc.getBooleanValue("enableMultiDispatch"));
        // Batch-CQ stores: the batch queue file size rmqstore used.
        if (sc.containsKey("mapperFileSizeBatchConsumeQueue")) {
            c.setMapperFileSizeBatchConsumeQueue(sc.getIntValue("mapperFileSizeBatchConsumeQueue"));
        }
        c.setCheckCRCOnRecover(true);
        c.setHaListenPort(0);
        c.setEnableCompaction(false);
        List<String> failures = new ArrayList<>();
        boolean abortBefore = Files.exists(root.resolve("abort"));
        if (abortBefore) {
            failures.add("rmqstore left an abort file (the next start would be abnormal)");
        }
        // No topic attributes (plain consume queues), except the topics EXPECT.json names in
        // "batchTopics", which get queue.type=BatchCQ as a 5.x broker's topics.json would say.
        ConcurrentMap<String, TopicConfig> topicTable = new ConcurrentHashMap<>();
        com.alibaba.fastjson2.JSONArray batchTopics = exp.getJSONArray("batchTopics");
        if (batchTopics != null) {
            for (Object t : batchTopics) {
                TopicConfig tc = new TopicConfig((String) t, 2, 2);
                Map<String, String> attrs = new HashMap<>();
                attrs.put(TopicAttributes.QUEUE_TYPE_ATTRIBUTE.getName(), "BatchCQ");
                tc.setAttributes(attrs);
                topicTable.put((String) t, tc);
            }
        }
        DefaultMessageStore store = open(c, topicTable);
        if (!store.load()) {
            System.out.println("FAIL load returned false");
            return 1;
        }
        store.start();
        long maxPhy = store.getMaxPhyOffset();
        if (maxPhy != exp.getLongValue("maxPhyOffset")) {
            failures.add("max physical offset after 5.3.3 recovery " + maxPhy + ", rmqstore wrote up to "
                + exp.getLongValue("maxPhyOffset"));
        }
        int checked = 0;
        for (Object o : exp.getJSONArray("messages")) {
            com.alibaba.fastjson2.JSONObject m = (com.alibaba.fastjson2.JSONObject) o;
            String topic = m.getString("topic");
            int qid = m.getIntValue("queueId");
            long qo = m.getLongValue("queueOffset");
            String at = topic + ":" + qid + "@" + qo;
            org.apache.rocketmq.store.GetMessageResult g = store.getMessage("check", topic, qid, qo, 1, null);
            if (g == null || g.getMessageBufferList().isEmpty()) {
                failures.add(at + ": not found (" + (g == null ? "null" : g.getStatus()) + ")");
                continue;
            }
            ByteBuffer bb = g.getMessageBufferList().get(0);
            MessageExt msg = MessageDecoder.decode(bb, true, false);
            g.release();
            if (msg == null) {
                failures.add(at + ": does not decode");
                continue;
            }
            if (m.containsKey("batchQueueType")) {
                ConsumeQueueInterface cq = store.getConsumeQueue(topic, qid);
                String type = cq == null ? "none" : cq.getCQType().name();
                if (!type.equals(m.getString("batchQueueType"))) {
                    failures.add(at + ": queue type " + type + ", expected " + m.getString("batchQueueType"));
                }
                String base = msg.getProperty(MessageConst.PROPERTY_INNER_BASE);
                if (m.containsKey("innerBase") && !String.valueOf(m.getLongValue("innerBase")).equals(base)) {
                    failures.add(at + ": INNER_BASE " + base + ", expected " + m.getLongValue("innerBase"));
                }
            }
            if (msg.getCommitLogOffset() != m.getLongValue("wroteOffset")) {
                failures.add(at + ": at " + msg.getCommitLogOffset() + ", rmqstore wrote it at " + m.getLongValue("wroteOffset"));
            }
            if (!sha256(msg.getBody()).equals(m.getString("bodySha256"))) {
                failures.add(at + ": body differs");
            }
            if (c.isEnabledAppendPropCRC() && msg.getProperty(MessageConst.PROPERTY_CRC32) == null) {
                failures.add(at + ": no __CRC32# property");
            }
            String key = m.getString("key");
            if (key != null) {
                org.apache.rocketmq.store.QueryMessageResult q = store.queryMessage(topic, key, 32, 0, Long.MAX_VALUE);
                boolean found = false;
                for (ByteBuffer b : q.getMessageBufferList()) {
                    MessageExt x = MessageDecoder.decode(b, false, false);
                    if (x != null && x.getCommitLogOffset() == m.getLongValue("wroteOffset")) {
                        found = true;
                    }
                }
                q.release();
                if (!found) {
                    failures.add(at + ": key " + key + " not found through the index");
                }
            }
            checked++;
        }
        store.shutdown();
        for (String f : failures) {
            System.out.println("FAIL " + f);
        }
        System.out.println("checked " + checked + " messages, " + failures.size() + " failure(s)");
        return failures.isEmpty() ? 0 : 1;
    }

    // ---------------------------------------------------------------- read side

    static int read(String feature, Path root, Path outJson) throws Exception {
        MessageStoreConfig c = config(feature, root);
        if (feature.equals("compaction")) {
            // No compaction while reading: the first run would come 10-20 minutes after load.
            c.setCompactionScheduleInternal(600000);
        }
        DefaultMessageStore store = open(c);
        TimerMessageStore timer = null;
        TimerCheckpoint tcp = null;
        if (feature.equals("timer")) {
            tcp = new TimerCheckpoint(root.resolve("config").resolve("timercheck").toString());
            TimerMetrics metrics = new TimerMetrics(root.resolve("config").resolve("timermetrics").toString());
            timer = new TimerMessageStore(store, c, tcp, metrics, null);
            store.setTimerMessageStore(timer);
        }
        boolean abortBefore = Files.exists(root.resolve("abort"));
        // The timer checkpoint as the file holds it; recovery (load) moves it on in memory.
        Map<String, Object> timerCheckpointFile = tcp == null ? null : checkpoint(tcp);
        if (!store.load()) {
            throw new IllegalStateException("load failed");
        }
        if (timer != null && !timer.load()) {
            throw new IllegalStateException("timer load failed");
        }
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("env", env(feature, c));
        o.put("abortFileExistedBeforeLoad", abortBefore);
        o.put("minPhyOffset", store.getMinPhyOffset());
        o.put("maxPhyOffset", store.getMaxPhyOffset());
        List<Object> queues = new ArrayList<>();
        for (Map.Entry<String, ? extends Map<Integer, ? extends ConsumeQueueInterface>> e :
            new TreeMap<>(store.getConsumeQueueTable()).entrySet()) {
            for (Map.Entry<Integer, ? extends ConsumeQueueInterface> q : new TreeMap<>(e.getValue()).entrySet()) {
                queues.add(dumpQueue(store, q.getValue()));
            }
        }
        o.put("queues", queues);
        if (timer != null) {
            o.put("timerCheckpoint", timerCheckpointFile);
            o.put("timerCheckpointAfterRecovery", checkpoint(tcp));
            o.put("timerCurrQueueOffset", timer.getQueueOffset());
            o.put("timerCurrReadTimeMs", timer.getCurrReadTimeMs());
            o.put("timerMetrics", timer.getTimerMetrics().encode());
            o.put("timerSlots", dumpSlots(timer, root));
        }
        if (feature.equals("epoch")) {
            EpochFileCache cache = new EpochFileCache(root.resolve("epochFileCheckpoint").toString());
            if (!cache.initCacheFromFile()) {
                throw new IllegalStateException("epoch file did not load");
            }
            List<Object> entries = new ArrayList<>();
            for (EpochEntry en : cache.getAllEntries()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("epoch", en.getEpoch());
                m.put("startOffset", en.getStartOffset());
                m.put("endOffset", en.getEndOffset());
                entries.add(m);
            }
            o.put("epochEntries", entries);
            String idPath = c.getStorePathBrokerIdentity();
            BrokerMetadata id = new BrokerMetadata(idPath);
            id.readFromFile();
            TempBrokerMetadata temp = new TempBrokerMetadata(idPath + "-temp");
            temp.readFromFile();
            o.put("brokerIdentity", identity(id, Path.of(idPath)));
            o.put("brokerIdentityTemp", identity(temp, Path.of(idPath + "-temp")));
        }
        if (feature.equals("compaction")) {
            Path cp = root.resolve("compaction").resolve("position-checkpoint");
            o.put("positionCheckpoint", Files.exists(cp) ? Files.readString(cp) : null);
            // getMessage is refused until start(); it routes a COMPACTION topic to CompactionStore.
            store.start();
            List<Object> cqs = new ArrayList<>();
            for (int q = 0; q < 2; q++) {
                cqs.add(dumpCompaction(store, COMPACT_TOPIC, q));
            }
            o.put("compactionQueues", cqs);
        }
        writeJson(outJson, o);
        return 0;
    }

    /**
     * Every message DefaultMessageStore#getMessage returns for a COMPACTION topic's queue (from
     * the compaction log through its sparse consume queue), fetching from offset 0 and going on
     * at each nextBeginOffset; each fetch with its status and offsets.
     */
    static Map<String, Object> dumpCompaction(DefaultMessageStore store, String topic, int q) throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("topic", topic);
        o.put("queueId", q);
        List<Object> fetches = new ArrayList<>();
        List<Object> msgs = new ArrayList<>();
        long next = 0;
        for (int guard = 0; guard < 1000; guard++) {
            org.apache.rocketmq.store.GetMessageResult g = store.getMessage("reader", topic, q, next, 32, null);
            Map<String, Object> f = new LinkedHashMap<>();
            f.put("from", next);
            f.put("status", g.getStatus().name());
            f.put("nextBeginOffset", g.getNextBeginOffset());
            f.put("minOffset", g.getMinOffset());
            f.put("maxOffset", g.getMaxOffset());
            f.put("messageCount", g.getMessageCount());
            fetches.add(f);
            for (ByteBuffer bb : g.getMessageBufferList()) {
                int size = bb.remaining();
                MessageExt m = MessageDecoder.decode(bb, true, false);
                Map<String, Object> x = new LinkedHashMap<>();
                x.put("queueOffset", m.getQueueOffset());
                x.put("compactionLogOffset", m.getCommitLogOffset());
                x.put("size", size);
                x.put("storeSize", m.getStoreSize());
                x.put("storeTimestamp", m.getStoreTimestamp());
                x.put("keys", m.getKeys());
                x.put("tags", m.getTags());
                x.put("uniqKey", m.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX));
                byte[] body = m.getBody() == null ? new byte[0] : m.getBody();
                x.put("bodyLength", body.length);
                x.put("bodySha256", sha256(body));
                msgs.add(x);
            }
            g.release();
            long nb = g.getNextBeginOffset();
            if (!g.getStatus().name().equals("FOUND") || nb <= next || nb >= g.getMaxOffset()) {
                break;
            }
            next = nb;
        }
        o.put("fetches", fetches);
        o.put("messages", msgs);
        return o;
    }

    static Map<String, Object> checkpoint(TimerCheckpoint tcp) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("lastReadTimeMs", tcp.getLastReadTimeMs());
        m.put("lastTimerLogFlushPos", tcp.getLastTimerLogFlushPos());
        m.put("lastTimerQueueOffset", tcp.getLastTimerQueueOffset());
        m.put("masterTimerQueueOffset", tcp.getMasterTimerQueueOffset());
        m.put("stateVersion", tcp.getDataVersion().getStateVersion());
        m.put("timestamp", tcp.getDataVersion().getTimestamp());
        m.put("counter", tcp.getDataVersion().getCounter().get());
        return m;
    }

    static Map<String, Object> dumpQueue(DefaultMessageStore store, ConsumeQueueInterface cq) throws Exception {
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("topic", cq.getTopic());
        q.put("queueId", cq.getQueueId());
        q.put("cqType", cq.getCQType().name());
        q.put("minOffset", cq.getMinOffsetInQueue());
        q.put("maxOffset", cq.getMaxOffsetInQueue());
        q.put("maxPhysicOffset", cq.getMaxPhysicOffset());
        // Every unit from the first to the last, through the queue's own iterator (one
        // iterator covers at most one file, so iterate again from where the last one ended).
        List<Object> units = new ArrayList<>();
        long next = cq.getMinOffsetInQueue();
        while (next < cq.getMaxOffsetInQueue()) {
            ReferredIterator<CqUnit> it = cq.iterateFrom(next);
            if (it == null || !it.hasNext()) {
                if (it != null) {
                    it.release();
                }
                break;
            }
            try {
                while (it.hasNext()) {
                    CqUnit u = it.next();
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("queueOffset", u.getQueueOffset());
                    m.put("pos", u.getPos());
                    m.put("size", u.getSize());
                    m.put("tagsCode", u.getTagsCode());
                    m.put("batchNum", (int) u.getBatchNum());
                    m.put("compactedOffset", u.getCompactedOffset());
                    MessageExt msg = store.lookMessageByOffset(u.getPos(), u.getSize());
                    if (msg != null) {
                        m.put("msgTopic", msg.getTopic());
                        m.put("msgQueueOffset", msg.getQueueOffset());
                        m.put("properties", new TreeMap<>(msg.getProperties()));
                    }
                    units.add(m);
                    next = u.getQueueOffset() + Math.max(1, u.getBatchNum());
                }
            } finally {
                it.release();
            }
        }
        q.put("units", units);
        return q;
    }

    /** Every slot of the wheel that is in use, read through TimerWheel#getRawSlot, and its timer-log chain. */
    static List<Object> dumpSlots(TimerMessageStore timer, Path root) throws Exception {
        List<Object> out = new ArrayList<>();
        org.apache.rocketmq.store.timer.TimerWheel wheel = timer.getTimerWheel();
        int prec = wheel.precisionMs;
        for (int i = 0; i < wheel.slotsTotal * 2; i++) {
            Slot s = wheel.getRawSlot((long) i * prec);
            if (s.timeMs == 0 && s.firstPos == 0 && s.lastPos == 0 && s.num == 0 && s.magic == 0) {
                continue;
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", i);
            m.put("timeMs", s.timeMs);
            m.put("firstPos", s.firstPos);
            m.put("lastPos", s.lastPos);
            m.put("num", s.num);
            m.put("magic", s.magic);
            List<Object> chain = new ArrayList<>();
            long pos = s.lastPos;
            int guard = 0;
            while (pos >= 0 && guard++ < 1000) {
                SelectMappedBufferResult sbr = timer.getTimerLog().getTimerMessage(pos);
                if (sbr == null) {
                    break;
                }
                ByteBuffer bb = sbr.getByteBuffer();
                Map<String, Object> u = new LinkedHashMap<>();
                u.put("pos", pos);
                u.put("size", bb.getInt());
                long prev = bb.getLong();
                u.put("prevPos", prev);
                u.put("magic", bb.getInt());
                u.put("currWriteTimeMs", bb.getLong());
                u.put("delayTimeMs", bb.getInt());
                u.put("offsetPy", bb.getLong());
                u.put("sizePy", bb.getInt());
                u.put("hashCodeOfRealTopic", bb.getInt());
                u.put("reserved", bb.getLong());
                sbr.release();
                chain.add(u);
                if (pos == s.firstPos) {
                    break;
                }
                pos = prev;
            }
            m.put("chain", chain);
            out.add(m);
        }
        return out;
    }
}
