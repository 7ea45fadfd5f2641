package interop;

import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.store.DefaultMessageStore;
import org.apache.rocketmq.store.PutMessageResult;
import org.apache.rocketmq.store.config.MessageStoreConfig;

/** What differs between the 4.x and 5.x store APIs the drivers use; one implementation per line. */
public interface Compat {
    DefaultMessageStore open(MessageStoreConfig config) throws Exception;

    /** A new MessageExtBrokerInner (its package moved in 5.x) with the given properties string. */
    MessageExt newInner(String propertiesString);

    PutMessageResult put(DefaultMessageStore store, MessageExt inner);

    /** Rewrites the properties string of a message {@link #newInner} made (the bench reuses one per writer). */
    void setPropertiesString(MessageExt inner, String propertiesString);

    String line();

    /** HA connections a master counts (4.x HAService.getConnectionCount); -1 where not wired. */
    int haConnections(DefaultMessageStore store);

    static Compat get() {
        return new CompatImpl();
    }
}
