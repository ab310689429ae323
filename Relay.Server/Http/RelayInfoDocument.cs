using System.Text.Json;
using Relay.Server.Configuration;

namespace Relay.Server.Http;

/// The NIP-11 relay information document, written once with Utf8JsonWriter (no reflection).
internal static class RelayInfoDocument
{
    /// Exactly what works: NIP-01, 09 (deletion), 11, 13 (PoW limit), 40 (expiration), 42 (AUTH),
    /// 45 (COUNT), 62 (request to vanish), 70 (protected events).
    public static readonly int[] SupportedNips = [1, 9, 11, 13, 40, 42, 45, 62, 70];

    public static byte[] Build(RelayOptions o, string version)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("name", o.Name);
            w.WriteString("description", o.Description);
            if (o.AdminPubkey is { } pk) w.WriteString("pubkey", pk);
            if (o.Contact is { } contact) w.WriteString("contact", contact);
            if (o.Icon is { } icon) w.WriteString("icon", icon);
            w.WriteStartArray("supported_nips");
            foreach (var n in SupportedNips) w.WriteNumberValue(n);
            w.WriteEndArray();
            w.WriteString("software", o.Software);
            w.WriteString("version", version);
            w.WriteStartObject("limitation");
            w.WriteNumber("max_message_length", o.MaxMessageBytes);
            w.WriteNumber("max_subscriptions", o.MaxSubscriptions);
            w.WriteNumber("max_filters", o.MaxFilters);
            w.WriteNumber("max_limit", o.MaxLimit);
            w.WriteNumber("default_limit", o.MaxLimit);
            w.WriteNumber("max_subid_length", o.MaxSubIdLength);
            w.WriteNumber("max_event_tags", o.MaxEventTags);
            w.WriteNumber("max_content_length", o.MaxContentLength);
            w.WriteNumber("min_pow_difficulty", o.MinPowDifficulty);
            w.WriteBoolean("auth_required", o.AuthRequiredForRead || o.AuthRequiredForWrite || (o.WotEnabled && o.WotRead));
            w.WriteBoolean("payment_required", false);
            // Anything that refuses events for who sent them rather than what they are.
            w.WriteBoolean("restricted_writes", o.WotEnabled || o.AuthRequiredForWrite || o.MinPowDifficulty > 0);
            w.WriteNumber("created_at_lower_limit", o.MaxPastSeconds);
            w.WriteNumber("created_at_upper_limit", o.MaxFutureSeconds);
            // Not in NIP-11's list, but what clients and operators ask of a relay like this one.
            w.WriteNumber("max_ids_per_filter", o.MaxIdsPerFilter);
            w.WriteNumber("max_authors_per_filter", o.MaxAuthorsPerFilter);
            w.WriteNumber("max_connections_per_ip", o.MaxConnectionsPerIp);
            w.WriteNumber("events_per_second_per_ip", o.EventsPerSecondPerIp);
            w.WriteNumber("events_per_second_per_pubkey", o.EventsPerSecondPerPubkey);
            w.WriteNumber("reqs_per_second_per_ip", o.ReqsPerSecondPerIp);
            w.WriteNumber("reqs_per_second_per_pubkey", o.ReqsPerSecondPerPubkey);
            w.WriteStartArray("private_kinds");
            foreach (var k in o.PrivateKinds) w.WriteNumberValue(k);
            w.WriteEndArray();
            w.WriteBoolean("web_of_trust", o.WotEnabled);
            if (o.WotEnabled) w.WriteNumber("web_of_trust_depth", o.WotDepth);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }
}
