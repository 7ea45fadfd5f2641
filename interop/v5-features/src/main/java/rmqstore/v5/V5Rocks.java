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
import org.apache.rocketmq.common.BrokerConfig;
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
 *   write OUTDIR            writes OUTDIR/store (clean shutdown) and OUTDIR/manifest.json
 *   read  STORE OUT.json    loads STORE (a copy: loading writes to it) and dumps, per queue of the
 *                           fixture's topics, min/max offsets and every unit with the message
 *                           Java's getMessage returns for it
 * </pre>
 */
public final class V5Rocks {
    /** topic -> queue count. */
    static final String[][] TOPICS = {{"RocksTopicA", "4"}, {"RocksTopicB", "2"}, {"RocksTopic_With.Longer-Name", "1"}};

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
        if (args.length == 2 && args[0].equals("write")) {
            rc = write(Path.of(args[1]));
        } else if (args.length == 3 && args[0].equals("read")) {
            rc = read(Path.of(args[1]), Path.of(args[2]));
        } else {
            System.err.println("usage: write OUTDIR | read STORE OUT.json");
            rc = 2;
        }
        return rc;
    }

    static MessageStoreConfig config(Path root) {
        MessageStoreConfig c = new MessageStoreConfig();
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

    static int write(Path out) throws Exception {
        Path root = out.resolve("store");
        if (Files.exists(root)) {
            throw new IllegalStateException(root + " exists");
        }
        Files.createDirectories(root);
        MessageStoreConfig c = config(root);
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
            messages.add(V5Features.record("plain", m, V5Features.put(store, m)));
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
        manifest.put("variant", "rocksdb");
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("storeType", c.getStoreType());
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

    static int read(Path root, Path outJson) throws Exception {
        MessageStoreConfig c = config(root);
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
