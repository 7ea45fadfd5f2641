package interop;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.zip.CRC32;
import org.apache.rocketmq.common.message.MessageAccessor;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageDecoder;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageExtBatch;
import org.apache.rocketmq.common.sysflag.MessageSysFlag;
import org.apache.rocketmq.store.AppendMessageResult;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.GetMessageResult;
import org.apache.rocketmq.store.PutMessageResult;
import org.apache.rocketmq.store.QueryMessageResult;
import org.apache.rocketmq.store.SelectMappedBufferResult;
import org.apache.rocketmq.store.config.BrokerRole;
import org.apache.rocketmq.store.config.FlushDiskType;
import org.apache.rocketmq.store.config.MessageStoreConfig;

/**
 * Drives Apache RocketMQ's DefaultMessageStore (the jar on the class path, as published) for the
 * interop suite. Commands:
 *
 * <pre>
 *   write MIX STORE OUT            put every op of MIX; OUT: each put's result and its records' store times
 *   read MIX STORE OUT [STORE OUT]...  load (recover) each store and dump what Java sees
 *   crashwrite MIX STORE           put MIX's ops over and over, printing "ACK offset size" after each OK put
 *   ha MIX STORE ROLE PORT MASTER  run as HA master or slave; commands on stdin (see haLoop)
 *   bench-put / bench-get ...      Java's side of rmqstore bench --vs-java (see Bench)
 * </pre>
 *
 * MIX is the JSON the Rust suite generates: a store config and the ops (single messages and
 * batches) with every field given, so both engines put the same messages.
 */
public final class Driver {
    static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeSpecialFloatingPointValues().create();
    static final int BLANK_MAGIC = -875286124;
    static final Compat COMPAT = Compat.get();

    public static void main(String[] args) {
        try {
            run(args);
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    /** 4.x logs through rocketmq-logging's inner logger, which has no appender by default. */
    static void consoleLogging() {
        try {
            Class<?> lb = Class.forName("org.apache.rocketmq.logging.inner.LoggingBuilder");
            Object ab = lb.getMethod("newAppenderBuilder").invoke(null);
            ab = ab.getClass().getMethod("withConsoleAppender", String.class).invoke(ab, "System.err");
            Object layb = lb.getMethod("newLayoutBuilder").invoke(null);
            layb = layb.getClass().getMethod("withDefaultLayout").invoke(layb);
            Object layout = layb.getClass().getMethod("build").invoke(layb);
            Class<?> layoutC = Class.forName("org.apache.rocketmq.logging.inner.Layout");
            ab = ab.getClass().getMethod("withLayout", layoutC).invoke(ab, layout);
            Object appender = ab.getClass().getMethod("build").invoke(ab);
            Class<?> logger = Class.forName("org.apache.rocketmq.logging.inner.Logger");
            Object root = logger.getMethod("getRootLogger").invoke(null);
            root.getClass().getMethod("addAppender", Class.forName("org.apache.rocketmq.logging.inner.Appender")).invoke(root, appender);
        } catch (Throwable t) {
            System.err.println("interop: no console logging: " + t);
        }
    }

    static void run(String[] args) throws Exception {
        if (System.getenv("INTEROP_JAVA_LOG") != null) consoleLogging();
        // Java's own output goes to stderr; stdout carries only the protocol lines.
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err);
        switch (args[0]) {
            case "write": write(json(args[1]), args[2], args[3]); break;
            case "read":
                for (int i = 2; i + 1 < args.length; i += 2) read(json(args[1]), args[i], args[i + 1]);
                break;
            case "crashwrite": crashWrite(json(args[1]), args[2], out); break;
            case "ha": haLoop(json(args[1]), args[2], args[3], Integer.parseInt(args[4]), args[5], out); break;
            case "bench-put": Bench.benchPut(args, out); break;
            case "bench-get": Bench.benchGet(args, out); break;
            default: throw new IllegalArgumentException("unknown command " + args[0]);
        }
        out.flush();
    }

    static JsonObject json(String path) throws Exception {
        return GSON.fromJson(Files.readString(Paths.get(path), StandardCharsets.UTF_8), JsonObject.class);
    }

    static MessageStoreConfig config(JsonObject mix, String root) {
        JsonObject c = mix.getAsJsonObject("config");
        MessageStoreConfig sc = new MessageStoreConfig();
        sc.setStorePathRootDir(root);
        sc.setStorePathCommitLog(Paths.get(root, "commitlog").toString());
        sc.setMappedFileSizeCommitLog(c.get("commitLogSize").getAsInt());
        sc.setMappedFileSizeConsumeQueue(c.get("cqSize").getAsInt());
        sc.setMaxHashSlotNum(c.get("hashSlots").getAsInt());
        sc.setMaxIndexNum(c.get("indexNum").getAsInt());
        if (c.has("maxMessageSize")) sc.setMaxMessageSize(c.get("maxMessageSize").getAsInt());
        sc.setFlushDiskType(FlushDiskType.valueOf(c.has("flush") ? c.get("flush").getAsString() : "ASYNC_FLUSH"));
        if (c.has("transientStorePool")) sc.setTransientStorePoolEnable(c.get("transientStorePool").getAsBoolean());
        return sc;
    }

    static DefaultMessageStore open(MessageStoreConfig sc) throws Exception {
        DefaultMessageStore store = COMPAT.open(sc);
        if (!store.load()) throw new IllegalStateException("load() failed for " + sc.getStorePathRootDir());
        store.start();
        return store;
    }

    // ---- message construction ----------------------------------------------------------

    static byte[] body(JsonObject spec) {
        int len = spec.get("len").getAsInt();
        int fill = spec.get("fill").getAsInt();
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) b[i] = (byte) ((fill * 131 + i * 31 + (i >>> 7)) & 0xff);
        return b;
    }

    static InetSocketAddress host(JsonObject h) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(h.get("ip").getAsString()), h.get("port").getAsInt());
    }

    /** Puts one op (a message or a batch) as the broker's SendMessageProcessor hands it to the store. */
    static PutMessageResult put(DefaultMessageStore store, JsonObject op) throws Exception {
        if (op.has("batch")) {
            MessageExtBatch b = new MessageExtBatch();
            b.setTopic(op.get("topic").getAsString());
            b.setQueueId(op.get("queueId").getAsInt());
            b.setSysFlag(op.get("sysFlag").getAsInt());
            b.setBornTimestamp(op.get("bornTimestamp").getAsLong());
            b.setBornHost(host(op.getAsJsonObject("bornHost")));
            b.setStoreHost(host(op.getAsJsonObject("storeHost")));
            b.setReconsumeTimes(op.get("reconsumeTimes").getAsInt());
            String props = op.has("properties") ? op.get("properties").getAsString() : "";
            MessageAccessor.setProperties(b, MessageDecoder.string2messageProperties(props));
            // The batch body is the client's wire encoding (MessageDecoder.encodeMessages), built
            // here from each item's exact properties string so both engines see the same bytes.
            List<byte[]> items = new ArrayList<>();
            int total = 0;
            for (JsonElement e : op.getAsJsonArray("batch")) {
                JsonObject it = e.getAsJsonObject();
                byte[] bd = body(it.getAsJsonObject("body"));
                byte[] pr = it.get("properties").getAsString().getBytes(StandardCharsets.UTF_8);
                int size = 4 + 4 + 4 + 4 + 4 + bd.length + 2 + pr.length;
                ByteBuffer bb = ByteBuffer.allocate(size);
                bb.putInt(size).putInt(0).putInt(0).putInt(it.get("flag").getAsInt()).putInt(bd.length).put(bd);
                bb.putShort((short) pr.length).put(pr);
                items.add(bb.array());
                total += size;
            }
            ByteBuffer all = ByteBuffer.allocate(total);
            for (byte[] x : items) all.put(x);
            b.setBody(all.array());
            return store.putMessages(b);
        }
        String props = op.get("properties").getAsString();
        MessageExt m = COMPAT.newInner(props);
        m.setTopic(op.get("topic").getAsString());
        m.setQueueId(op.get("queueId").getAsInt());
        m.setFlag(op.get("flag").getAsInt());
        m.setBody(body(op.getAsJsonObject("body")));
        MessageAccessor.setProperties(m, MessageDecoder.string2messageProperties(props));
        m.setSysFlag(op.get("sysFlag").getAsInt());
        m.setBornTimestamp(op.get("bornTimestamp").getAsLong());
        m.setBornHost(host(op.getAsJsonObject("bornHost")));
        m.setStoreHost(host(op.getAsJsonObject("storeHost")));
        m.setReconsumeTimes(op.get("reconsumeTimes").getAsInt());
        m.setPreparedTransactionOffset(op.get("preparedTransactionOffset").getAsLong());
        return COMPAT.put(store, m);
    }

    static JsonObject putResult(DefaultMessageStore store, PutMessageResult r) {
        JsonObject o = new JsonObject();
        o.addProperty("status", r.getPutMessageStatus().name());
        AppendMessageResult a = r.getAppendMessageResult();
        if (a != null) {
            o.addProperty("appendStatus", a.getStatus().name());
            o.addProperty("wroteOffset", a.getWroteOffset());
            o.addProperty("wroteBytes", a.getWroteBytes());
            o.addProperty("msgId", a.getMsgId());
            o.addProperty("queueOffset", a.getLogicsOffset());
            o.addProperty("msgNum", a.getMsgNum());
            JsonArray times = new JsonArray();
            if (r.isOk()) {
                long off = a.getWroteOffset();
                for (int i = 0; i < a.getMsgNum(); i++) {
                    MessageExt m = store.lookMessageByOffset(off);
                    times.add(m.getStoreTimestamp());
                    off += m.getStoreSize();
                }
            }
            o.add("storeTimestamps", times);
        }
        return o;
    }

    static void waitDispatched(DefaultMessageStore store) throws InterruptedException {
        for (int i = 0; i < 600 && store.dispatchBehindBytes() > 0; i++) Thread.sleep(10);
    }

    static void write(JsonObject mix, String root, String outPath) throws Exception {
        DefaultMessageStore store = open(config(mix, root));
        JsonArray puts = new JsonArray();
        for (JsonElement e : mix.getAsJsonArray("ops")) puts.add(putResult(store, put(store, e.getAsJsonObject())));
        waitDispatched(store);
        JsonObject out = new JsonObject();
        out.add("puts", puts);
        out.addProperty("maxPhyOffset", store.getMaxPhyOffset());
        store.shutdown();
        Files.writeString(Paths.get(outPath), GSON.toJson(out), StandardCharsets.UTF_8);
    }

    // ---- reading ---------------------------------------------------------------------------

    static String hostString(java.net.SocketAddress a) {
        InetSocketAddress s = (InetSocketAddress) a;
        return s.getAddress().getHostAddress() + "|" + s.getPort();
    }

    static JsonObject describe(MessageExt m) {
        JsonObject o = new JsonObject();
        o.addProperty("topic", m.getTopic());
        o.addProperty("queueId", m.getQueueId());
        o.addProperty("queueOffset", m.getQueueOffset());
        o.addProperty("commitLogOffset", m.getCommitLogOffset());
        o.addProperty("storeSize", m.getStoreSize());
        o.addProperty("bodyCRC", m.getBodyCRC());
        o.addProperty("flag", m.getFlag());
        o.addProperty("sysFlag", m.getSysFlag());
        o.addProperty("bornTimestamp", m.getBornTimestamp());
        o.addProperty("bornHost", hostString(m.getBornHost()));
        o.addProperty("storeTimestamp", m.getStoreTimestamp());
        o.addProperty("storeHost", hostString(m.getStoreHost()));
        o.addProperty("reconsumeTimes", m.getReconsumeTimes());
        o.addProperty("preparedTransactionOffset", m.getPreparedTransactionOffset());
        o.addProperty("msgId", m.getMsgId());
        JsonObject props = new JsonObject();
        Map<String, String> p = m.getProperties() == null ? Map.of() : new TreeMap<>(m.getProperties());
        for (Map.Entry<String, String> e : p.entrySet()) props.addProperty(e.getKey(), e.getValue());
        o.add("properties", props);
        byte[] body = m.getBody() == null ? new byte[0] : m.getBody();
        o.addProperty("bodyLen", body.length);
        CRC32 crc = new CRC32();
        crc.update(body);
        o.addProperty("bodyCrc32", crc.getValue());
        return o;
    }

    static MessageExt decode(ByteBuffer bb) {
        return MessageDecoder.decode(bb, true, false);
    }

    static void read(JsonObject mix, String root, String outPath) throws Exception {
        MessageStoreConfig sc = config(mix, root);
        DefaultMessageStore store = open(sc);
        waitDispatched(store);
        JsonObject out = new JsonObject();
        long min = store.getMinPhyOffset(), max = store.getMaxPhyOffset();
        out.addProperty("minPhyOffset", min);
        out.addProperty("maxPhyOffset", max);
        int seg = sc.getMappedFileSizeCommitLog();
        JsonArray records = new JsonArray();
        TreeSet<String> queues = new TreeSet<>();
        TreeMap<String, TreeSet<String>> keys = new TreeMap<>();
        long off = min;
        while (off < max) {
            SelectMappedBufferResult r = store.getCommitLogData(off);
            if (r == null) break;
            ByteBuffer bb = r.getByteBuffer();
            int size = bb.getInt(bb.position());
            int magic = bb.remaining() >= 8 ? bb.getInt(bb.position() + 4) : 0;
            if (magic == BLANK_MAGIC || size == 0) {
                r.release();
                off = (off / seg + 1) * seg;
                continue;
            }
            ByteBuffer one = bb.slice();
            one.limit(size);
            MessageExt m = decode(one);
            r.release();
            if (m == null) throw new IllegalStateException("undecodable record at " + off);
            records.add(describe(m));
            int tt = MessageSysFlag.getTransactionValue(m.getSysFlag());
            if (tt == MessageSysFlag.TRANSACTION_NOT_TYPE || tt == MessageSysFlag.TRANSACTION_COMMIT_TYPE) {
                queues.add(m.getTopic() + "\u0000" + m.getQueueId());
            }
            TreeSet<String> ks = keys.computeIfAbsent(m.getTopic(), t -> new TreeSet<>());
            String k = m.getProperty(MessageConst.PROPERTY_KEYS);
            if (k != null) for (String x : k.split(MessageConst.KEY_SEPARATOR)) if (!x.isEmpty()) ks.add(x);
            String u = m.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX);
            if (u != null) ks.add(u);
            off += size;
        }
        out.add("records", records);
        JsonObject qs = new JsonObject();
        for (String q : queues) {
            String topic = q.substring(0, q.indexOf('\u0000'));
            int qid = Integer.parseInt(q.substring(q.indexOf('\u0000') + 1));
            JsonObject qo = new JsonObject();
            long qmin = store.getMinOffsetInQueue(topic, qid);
            long qmax;
            try {
                qmax = store.getMaxOffsetInQueue(topic, qid);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            qo.addProperty("min", qmin);
            qo.addProperty("max", qmax);
            JsonArray msgs = new JsonArray();
            long next = qmin;
            while (next < qmax) {
                GetMessageResult g = store.getMessage("interop", topic, qid, next, 32, null);
                if (g == null || g.getMessageBufferList().isEmpty()) {
                    qo.addProperty("stoppedAt", next);
                    qo.addProperty("getStatus", g == null ? "null" : g.getStatus().name());
                    if (g != null) g.release();
                    break;
                }
                for (ByteBuffer b : g.getMessageBufferList()) msgs.add(describe(decode(b)));
                next = g.getNextBeginOffset();
                g.release();
            }
            qo.add("messages", msgs);
            qs.add(topic + "/" + qid, qo);
        }
        out.add("queues", qs);
        JsonObject queries = new JsonObject();
        for (Map.Entry<String, TreeSet<String>> e : keys.entrySet()) {
            for (String key : e.getValue()) {
                QueryMessageResult q = store.queryMessage(e.getKey(), key, 64, 0, Long.MAX_VALUE);
                TreeSet<Long> offs = new TreeSet<>();
                for (ByteBuffer b : q.getMessageBufferList()) offs.add(decode(b).getCommitLogOffset());
                q.release();
                JsonArray a = new JsonArray();
                for (Long o : offs) a.add(o);
                queries.add(e.getKey() + "\u0001" + key, a);
            }
        }
        out.add("queries", queries);
        store.shutdown();
        Files.writeString(Paths.get(outPath), GSON.toJson(out), StandardCharsets.UTF_8);
    }

    // ---- crash -----------------------------------------------------------------------------

    static void crashWrite(JsonObject mix, String root, PrintStream out) throws Exception {
        DefaultMessageStore store = open(config(mix, root));
        JsonArray ops = mix.getAsJsonArray("ops");
        out.println("READY");
        for (long round = 0; ; round++) {
            for (JsonElement e : ops) {
                PutMessageResult r = put(store, e.getAsJsonObject());
                if (r.isOk()) {
                    AppendMessageResult a = r.getAppendMessageResult();
                    out.println("ACK " + a.getWroteOffset() + " " + a.getWroteBytes());
                }
            }
        }
    }

    // ---- HA --------------------------------------------------------------------------------

    /**
     * Runs a store as ROLE (ASYNC_MASTER, SYNC_MASTER or SLAVE); a master listens on PORT, a slave
     * connects to MASTER. Prints "READY maxPhyOffset", then answers stdin lines:
     * "put I J" puts ops I..J-1 and prints "PUT status wroteOffset" per op, then "DONE";
     * "max" prints "MAX maxPhyOffset"; "slaves" prints "SLAVES n" (a master's
     * connections); "idle" waits until everything is dispatched and prints "IDLE"; "quit" shuts the store down and prints "BYE".
     */
    static void haLoop(JsonObject mix, String root, String role, int port, String master, PrintStream out) throws Exception {
        MessageStoreConfig sc = config(mix, root);
        sc.setBrokerRole(BrokerRole.valueOf(role));
        sc.setHaListenPort(port);
        sc.setHaSendHeartbeatInterval(200);
        if (!master.equals("-")) sc.setHaMasterAddress(master);
        DefaultMessageStore store = open(sc);
        if (!master.equals("-")) store.updateHaMasterAddress(master);
        JsonArray ops = mix.getAsJsonArray("ops");
        out.println("READY " + store.getMaxPhyOffset());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split(" ");
            if (w[0].equals("put")) {
                for (int i = Integer.parseInt(w[1]); i < Integer.parseInt(w[2]); i++) {
                    PutMessageResult r = put(store, ops.get(i).getAsJsonObject());
                    AppendMessageResult a = r.getAppendMessageResult();
                    out.println("PUT " + r.getPutMessageStatus().name() + " " + (a == null ? -1 : a.getWroteOffset()));
                }
                out.println("DONE");
            } else if (w[0].equals("slaves")) {
                out.println("SLAVES " + COMPAT.haConnections(store));
            } else if (w[0].equals("idle")) {
                waitDispatched(store);
                out.println("IDLE");
            } else if (w[0].equals("max")) {
                out.println("MAX " + store.getMaxPhyOffset());
            } else if (w[0].equals("quit")) {
                waitDispatched(store);
                store.shutdown();
                out.println("BYE");
                return;
            }
        }
    }
}
