package interop;

import org.apache.rocketmq.common.BrokerConfig;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.MessageExtBrokerInner;
import org.apache.rocketmq.store.PutMessageResult;
import org.apache.rocketmq.store.config.MessageStoreConfig;
import org.apache.rocketmq.store.stats.BrokerStatsManager;

/** 4.x: MessageExtBrokerInner lives in the store jar; BrokerStatsManager(String) in 4.6.0, (String, boolean) in 4.9.x. */
final class CompatImpl implements Compat {
    @Override
    public DefaultMessageStore open(MessageStoreConfig config) throws Exception {
        BrokerStatsManager stats;
        try {
            stats = BrokerStatsManager.class.getConstructor(String.class).newInstance("interop");
        } catch (NoSuchMethodException e) {
            stats = BrokerStatsManager.class.getConstructor(String.class, boolean.class).newInstance("interop", true);
        }
        // A no-op arriving listener: 4.6.0 calls it unconditionally on a master (NPE on null).
        return new DefaultMessageStore(config, stats, (t, q, o, tc, ts, f, p) -> { }, brokerConfig(config));
    }

    /** A slave is brokerId 1: with id 0 (MASTER_ID) Java's reput skips the rest of a transfer
     * when a record is split across two transfers, as a master would skip a bad record. */
    static BrokerConfig brokerConfig(MessageStoreConfig config) {
        BrokerConfig b = new BrokerConfig();
        if (config.getBrokerRole() == org.apache.rocketmq.store.config.BrokerRole.SLAVE) b.setBrokerId(1);
        return b;
    }

    @Override
    public MessageExt newInner(String propertiesString) {
        MessageExtBrokerInner m = new MessageExtBrokerInner();
        m.setPropertiesString(propertiesString);
        return m;
    }

    @Override
    public void setPropertiesString(MessageExt inner, String propertiesString) {
        ((MessageExtBrokerInner) inner).setPropertiesString(propertiesString);
    }

    @Override
    public PutMessageResult put(DefaultMessageStore store, MessageExt inner) {
        return store.putMessage((MessageExtBrokerInner) inner);
    }

    @Override
    public int haConnections(DefaultMessageStore store) {
        return store.getHaService().getConnectionCount().get();
    }

    @Override
    public String line() {
        return "4";
    }
}
