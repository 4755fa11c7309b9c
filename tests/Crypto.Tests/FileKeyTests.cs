namespace Detach.Crypto.Tests;

public class FileKeyTests
{
    [Fact]
    public void GenerateGivesDistinctShares()
    {
        var seen = new HashSet<string>();
        for (int i = 0; i < 1000; i++)
        {
            using var key = FileKey.Generate();
            Assert.Equal(FileKey.KeySize, key.LinkKey.Length);
            Assert.Equal(FileKey.KeySize, key.VaultKey.Length);
            Assert.True(seen.Add(Convert.ToHexString(key.LinkKey)));
            Assert.True(seen.Add(Convert.ToHexString(key.VaultKey)));
        }
    }

    [Fact]
    public void KeepsTheGivenShares()
    {
        var link = TestData.Random(32, 1);
        var vault = TestData.Random(32, 2);
        using var key = new FileKey(link, vault);
        Assert.Equal(link, key.LinkKey.ToArray());
        Assert.Equal(vault, key.VaultKey.ToArray());
    }

    [Theory]
    [InlineData(31, 32)]
    [InlineData(32, 33)]
    [InlineData(0, 32)]
    public void RejectsWrongSizes(int linkSize, int vaultSize) =>
        Assert.Throws<ArgumentException>(() => new FileKey(new byte[linkSize], new byte[vaultSize]));

    [Fact]
    public void DisposeZeroesTheSharesAndForbidsFurtherUse()
    {
        var key = FileKey.Generate();
        var storage = (byte[])typeof(FileKey).GetField("_keys", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(key)!;
        Assert.Contains(storage, b => b != 0);
        key.Dispose();
        Assert.All(storage, b => Assert.Equal(0, b));
        Assert.Throws<ObjectDisposedException>(() => key.LinkKey.Length);
        Assert.Throws<ObjectDisposedException>(() => key.VaultKey.Length);
    }
}
