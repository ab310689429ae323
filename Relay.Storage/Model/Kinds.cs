namespace Relay.Storage.Model;

/// NIP-01 kind ranges: what a relay keeps of an event depends only on its kind.
public enum KindClass { Regular, Replaceable, Ephemeral, Addressable }

public static class Kinds
{
    public const int Metadata = 0;
    public const int Contacts = 3;
    public const int Deletion = 5;
    public const int RequestToVanish = 62;
    public const int ClientAuthentication = 22242;
    public const int Max = 65535;

    public static KindClass Classify(int kind) => kind switch
    {
        0 or 3 => KindClass.Replaceable,
        >= 10000 and < 20000 => KindClass.Replaceable,
        >= 20000 and < 30000 => KindClass.Ephemeral,
        >= 30000 and < 40000 => KindClass.Addressable,
        _ => KindClass.Regular,
    };
}
