package rmqstore.v5;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.Arrays;
import org.apache.rocketmq.common.BrokerConfig;
import org.apache.rocketmq.common.MixAll;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageExtBrokerInner;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.GetMessageResult;
import org.apache.rocketmq.store.GetMessageStatus;
import org.apache.rocketmq.store.RocksDBMessageStore;
import org.apache.rocketmq.store.StoreType;
import org.apache.rocketmq.store.config.MessageStoreConfig;
import org.apache.rocketmq.store.queue.ConsumeQueueInterface;
import org.apache.rocketmq.store.queue.CqUnit;
import org.apache.rocketmq.store.stats.BrokerStatsManager;
import org.apache.rocketmq.common.message.MessageDecoder;

/**
 * The RocksDB consume queue of RocketMQ 5.x ({@code storeType=defaultRocksDB}) through the
 * published rocketmq-store 5.3.3 jar (unpatched): {@link RocksDBMessageStore}, as the broker
 * builds it for that store type.
 *
 * <pre>
 *   write OUTDIR [lmq]          writes OUTDIR/store (clean shutdown) and OUTDIR/manifest.json
 *   read  STORE OUT.json [lmq]  loads STORE (a copy: loading writes to it) and dumps, per queue of
 *                               the fixture's topics, min/max offsets and every unit with the
 *                               message Java's getMessage returns for it
 * </pre>
 *
 * With {@code lmq}: {@code enableLmq} and {@code enableMultiDispatch} on, and some messages of
 * RocksTopicA also dispatched to light message queues ({@code INNER_MULTI_DISPATCH}); the RocksDB
 * store keeps their copies as units of the {@code %LMQ%} topics, queue 0, which the read dumps
 * too.
 */
public final class V5Rocks {
    /** topic -> queue count. */
    static final String[][] TOPICS = {{"RocksTopicA", "4"}, {"RocksTopicB", "2"}, {"RocksTopic_With.Longer-Name", "1"}};
    /** The light message queues of the {@code lmq} variant (queue 0 each). */
    static final String[] LMQS = {"%LMQ%rocks-a", "%LMQ%rocks-b", "%LMQ%rocks-c"};

    public static void main(String[] args) throws Exception {
        int rc = 1;
        try {
            rc = run(args);
        } catch (Throwable t) {
            t.printStackTrace();
        }
        // Store threads are not daemons.
        System.exit(rc);
    }

    static int run(String[] args) throws Exception {
        int rc;
        boolean lmq = args.length > 0 && args[args.length - 1].equals("lmq");
        int n = lmq ? args.length - 1 : args.length;
        if (n == 2 && args[0].equals("write")) {
            rc = write(Path.of(args[1]), lmq);
        } else if (n == 3 && args[0].equals("read")) {
            rc = read(Path.of(args[1]), Path.of(args[2]), lmq);
        } else {
            System.err.println("usage: write OUTDIR [lmq] | read STORE OUT.json [lmq]");
            rc = 2;
        }
        return rc;
    }

    static MessageStoreConfig config(Path root, boolean lmq) {
        MessageStoreConfig c = new MessageStoreConfig();
        c.setEnableLmq(lmq);
        c.setEnableMultiDispatch(lmq);
        c.setStorePathRootDir(root.toString());
        c.setStorePathCommitLog(root.resolve("commitlog").toString());
        c.setMappedFileSizeCommitLog(64 * 1024);
        c.setMaxHashSlotNum(1000);
        c.setMaxIndexNum(4000);
        c.setHaListenPort(0);
        c.setEnableCompaction(false);
        c.setStoreType(StoreType.DEFAULT_ROCKSDB.getStoreType());
        return c;
    }

    static ConcurrentMap<String, TopicConfig> topics() {
        ConcurrentMap<String, TopicConfig> t = new ConcurrentHashMap<>();
        for (String[] e : TOPICS) {
            int n = Integer.parseInt(e[1]);
            t.put(e[0], new TopicConfig(e[0], n, n));
        }
        return t;
    }

    static DefaultMessageStore open(MessageStoreConfig c) throws Exception {
        BrokerConfig bc = new BrokerConfig();
        bc.setBrokerClusterName("DefaultCluster");
        return new RocksDBMessageStore(c, new BrokerStatsManager("v5rocks", true), null, bc, topics());
    }

    static int write(Path out, boolean lmq) throws Exception {
        Path root = out.resolve("store");
        if (Files.exists(root)) {
            throw new IllegalStateException(root + " exists");
        }
        Files.createDirectories(root);
        MessageStoreConfig c = config(root, lmq);
        DefaultMessageStore store = open(c);
        if (!store.load()) {
            throw new IllegalStateException("load failed");
        }
        store.start();
        List<Object> messages = new ArrayList<>();
        String[] tags = {"TagA", "TagB", null, "TagC"};
        int n = 0;
        // 150 messages over 7 queues; bodies sized so the commitlog rolls over (64 KiB files).
        for (int i = 0; i < 150; i++) {
            String[] t = TOPICS[i % 5 == 4 ? 2 : (i % 3 == 0 ? 1 : 0)];
            int q = i % Integer.parseInt(t[1]);
            String tag = tags[i % tags.length];
            MessageExtBrokerInner m = V5Features.inner(t[0], q, V5Features.body(i, 200 + (i * 37) % 900), tag, "rocks-" + i);
            MessageClientIDSetter.setUniqID(m);
            String[] targets = lmq && t[0].equals("RocksTopicA") && i % 2 == 0 ? lmqTargets(i) : null;
            if (targets != null) {
                MessageAccessor.putProperty(m, MessageConst.PROPERTY_INNER_MULTI_DISPATCH,
                    String.join(MixAll.LMQ_DISPATCH_SEPARATOR, targets));
            }
            Map<String, Object> rec = V5Features.record(targets == null ? "plain" : "lmq", m, V5Features.put(store, m));
            if (targets != null) {
                rec.put("lmqTargets", Arrays.asList(targets));
                rec.put("multiQueueOffset", m.getProperty(MessageConst.PROPERTY_INNER_MULTI_QUEUE_OFFSET));
            }
            messages.add(rec);
            n++;
        }
        long deadline = System.currentTimeMillis() + 10000;
        while (store.dispatchBehindBytes() > 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(10);
        }
        Thread.sleep(1500);
        // A broker asks for queue minimums (consumer offsets, admin): the RocksDB store writes the
        // "min" offset-table entry lazily on the first ask. Ask for RocksTopicA's queues only, so
        // the fixture holds queues with and without one.
        for (int q = 0; q < 4; q++) {
            store.getMinOffsetInQueue("RocksTopicA", q);
        }
        store.shutdown();
        Map<String, Object> manifest = new LinkedHashMap<>();
        Map<String, Object> env = V5Features.env("rocksdb", c);
        env.put("generator", "interop/v5-features (rmqstore.v5.V5Rocks write)");
        manifest.put("env", env);
        manifest.put("variant", lmq ? "rocksdb-lmq" : "rocksdb");
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("storeType", c.getStoreType());
        if (lmq) {
            cfg.put("enableLmq", c.isEnableLmq());
            cfg.put("enableMultiDispatch", c.isEnableMultiDispatch());
        }
        cfg.put("mappedFileSizeCommitLog", c.getMappedFileSizeCommitLog());
        cfg.put("maxHashSlotNum", c.getMaxHashSlotNum());
        cfg.put("maxIndexNum", c.getMaxIndexNum());
        cfg.put("rocksdbCompressionType", c.getRocksdbCompressionType());
        cfg.put("bottomMostCompressionTypeForConsumeQueueStore", c.getBottomMostCompressionTypeForConsumeQueueStore());
        manifest.put("storeConfigChanged", cfg);
        manifest.put("messages", messages);
        V5Features.writeJson(out.resolve("manifest.json"), manifest);
        System.out.println("wrote " + n + " messages to " + root);
        return 0;
    }

    /** One, two or three light message queues per message, in a rotating order. */
    static String[] lmqTargets(int i) {
        switch ((i / 2) % 4) {
            case 0:
                return new String[] {LMQS[0]};
            case 1:
                return new String[] {LMQS[0], LMQS[1]};
            case 2:
                return new String[] {LMQS[2], LMQS[1], LMQS[0]};
            default:
                return new String[] {LMQS[2]};
        }
    }

    static int read(Path root, Path outJson, boolean lmq) throws Exception {
        MessageStoreConfig c = config(root, lmq);
        DefaultMessageStore store = open(c);
        if (!store.load()) {
            throw new IllegalStateException("load failed");
        }
        // getMessage answers only from a started store (reput finds nothing new to dispatch).
        store.start();
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("minPhyOffset", store.getMinPhyOffset());
        o.put("maxPhyOffset", store.getMaxPhyOffset());
        o.put("maxPhyOffsetInConsumeQueue", store.getQueueStore().getMaxPhyOffsetInConsumeQueue());
        List<Object> queues = new ArrayList<>();
        TreeMap<String, Integer> sorted = new TreeMap<>();
        for (String[] e : TOPICS) {
            sorted.put(e[0], Integer.parseInt(e[1]));
        }
        if (lmq) {
            for (String l : LMQS) {
                sorted.put(l, 1);
            }
        }
        for (Map.Entry<String, Integer> e : sorted.entrySet()) {
            for (int q = 0; q < e.getValue(); q++) {
                queues.add(dumpQueue(store, e.getKey(), q));
            }
        }
        o.put("queues", queues);
        V5Features.writeJson(outJson, o);
        store.shutdown();
        return 0;
    }

    static Map<String, Object> dumpQueue(DefaultMessageStore store, String topic, int queueId) throws Exception {
        ConsumeQueueInterface cq = store.getConsumeQueue(topic, queueId);
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("topic", topic);
        q.put("queueId", queueId);
        q.put("cqType", cq.getCQType().name());
        long min = store.getMinOffsetInQueue(topic, queueId);
        long max = store.getMaxOffsetInQueue(topic, queueId);
        q.put("minOffset", min);
        q.put("maxOffset", max);
        List<Object> units = new ArrayList<>();
        for (long off = min; off < max; off++) {
            CqUnit u = cq.get(off);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("queueOffset", off);
            if (u == null) {
                m.put("missing", true);
                units.add(m);
                continue;
            }
            m.put("pos", u.getPos());
            m.put("size", u.getSize());
            m.put("tagsCode", u.getTagsCode());
            // Java's getMessage: what a consumer receives for this offset.
            GetMessageResult r = store.getMessage("g", topic, queueId, off, 1, null);
            if (r == null) {
                throw new IllegalStateException("getMessage returned null for " + topic + ":" + queueId + "@" + off);
            }
            m.put("getMessageStatus", r.getStatus().name());
            if (r.getStatus() == GetMessageStatus.FOUND && !r.getMessageBufferList().isEmpty()) {
                ByteBuffer bb = r.getMessageBufferList().get(0);
                MessageExt msg = MessageDecoder.decode(bb, true, false);
                m.put("msgTopic", msg.getTopic());
                m.put("msgQueueId", msg.getQueueId());
                m.put("msgQueueOffset", msg.getQueueOffset());
                m.put("msgCommitLogOffset", msg.getCommitLogOffset());
                m.put("msgStoreTimestamp", msg.getStoreTimestamp());
                m.put("msgKeys", msg.getKeys());
                m.put("msgBodySha256", V5Features.sha256(msg.getBody()));
            }
            r.release();
            units.add(m);
        }
        q.put("units", units);
        return q;
    }
}
