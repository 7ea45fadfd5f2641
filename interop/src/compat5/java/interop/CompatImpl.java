package interop;

import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.common.BrokerConfig;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageExtBrokerInner;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.PutMessageResult;
import org.apache.rocketmq.store.config.MessageStoreConfig;
import org.apache.rocketmq.store.stats.BrokerStatsManager;

/** 5.x: MessageExtBrokerInner moved to rocketmq-common; the store takes a topic config table. */
final class CompatImpl implements Compat {
    @Override
    public DefaultMessageStore open(MessageStoreConfig config) throws Exception {
        BrokerStatsManager stats = new BrokerStatsManager("interop", true);
        return new DefaultMessageStore(config, stats, (t, q, o, tc, ts, f, p) -> { }, brokerConfig(config), new ConcurrentHashMap<>());
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
        return -1; // HA is exercised with the 4.x jars only
    }

    @Override
    public String line() {
        return "5";
    }
}
