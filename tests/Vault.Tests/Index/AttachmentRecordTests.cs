using System.Reflection;
using Detach.Vault.Index;

namespace Detach.Vault.Tests.Index;

public sealed class AttachmentRecordTests
{
    [Fact]
    public void ToString_MasksTheVaultKey()
    {
        var record = TestRecords.New(DateTimeOffset.UnixEpoch);
        var key = record.VaultKey!;

        var text = record.ToString();

        Assert.Contains("VaultKey = ***", text, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexString(key), text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Convert.ToBase64String(key), text, StringComparison.Ordinal);
        Assert.DoesNotContain("Byte[]", text, StringComparison.Ordinal);
        Assert.Contains(record.Cid, text, StringComparison.Ordinal);
        Assert.Contains("VaultKey = (none)", (record with { VaultKey = null }).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_NamesEveryProperty()
    {
        // Guards the hand-written printer: a property added later must be printed (or consciously masked).
        var text = TestRecords.New(DateTimeOffset.UnixEpoch).ToString();

        foreach (var property in typeof(AttachmentRecord).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            Assert.Contains($" {property.Name} = ", text, StringComparison.Ordinal);
        }
    }
}
