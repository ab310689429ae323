namespace Relay.Server.Verify;

/// A real signed event (from nostr-tools), used to check at start-up that libsecp256k1 works.
internal static class KnownGood
{
    public static ReadOnlySpan<byte> Event => """
        {"id":"bdd09fdfcf8ada0c1ac900972c9eaba8d74cd6a7b33ea14de8e12957a47f7d46","pubkey":"f771877964fa2ce401d87bc2558a0df1e6921acef99389f059712b32cfda35fd","created_at":1700000000,"kind":1,"tags":[],"content":"hello world","sig":"71387ff87564fc5da5626216c2fd1c3a47efadb7468912aee36ed63d650f62e32023ff63d8358fa4bff458aec04f08048ad5ffdaa4b4509ea8ca32d3d450d1d9"}
        """u8;
}
