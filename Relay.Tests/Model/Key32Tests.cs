using System.Text;
using CsCheck;
using Relay.Storage.Model;

namespace Relay.Tests.Model;

/// The key a stored query's sent ids are kept under: the same id from the event and from its
/// stored JSON must meet, and two different ids must never.
public sealed class Key32Tests
{
    private static readonly Gen<string> Ids = Gen.Byte.Array[32].Select(Convert.ToHexStringLower);

    [Fact]
    public void An_id_read_from_stored_JSON_equals_the_same_id_read_from_the_event() =>
        Ids.Sample(id => Assert.Equal(Key32.Parse(id), Key32.Parse(Encoding.ASCII.GetBytes(id))));

    [Fact]
    public void Ids_that_differ_in_any_one_character_give_different_keys() =>
        Gen.Select(Ids, Gen.Int[0, 63], Gen.Int[1, 15]).Sample((id, at, delta) =>
        {
            var chars = id.ToCharArray();
            chars[at] = "0123456789abcdef"[(Convert.ToInt32(chars[at].ToString(), 16) + delta) % 16];
            Assert.NotEqual(Key32.Parse(id), Key32.Parse(new string(chars)));
        });
}
