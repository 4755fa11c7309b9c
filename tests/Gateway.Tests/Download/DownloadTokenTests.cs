using System.Security.Cryptography;
using Detach.Gateway.Http;

namespace Detach.Gateway.Tests.Download;

public class DownloadTokenTests
{
    private const string Cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static GatewaySecret NewSecret() => new(RandomNumberGenerator.GetBytes(GatewaySecret.Length));

    [Fact]
    public void ATokenOpensForItsCidUntilItExpires()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 23, 8, 0, 0, TimeSpan.Zero));
        var sealer = new DownloadTokenSealer(NewSecret(), clock);
        var key = RandomNumberGenerator.GetBytes(32);

        var text = sealer.Seal(Cid, key, TimeSpan.FromMinutes(60));

        var token = sealer.Open(Cid, text);
        Assert.NotNull(token);
        Assert.Equal(key, token.LinkKey);
        Assert.Equal(clock.Now.AddMinutes(60), token.ExpiresAt);
        Assert.DoesNotContain(Convert.ToBase64String(key).TrimEnd('='), text, StringComparison.Ordinal);

        clock.Now = clock.Now.AddMinutes(61);
        Assert.Null(sealer.Open(Cid, text));
    }

    [Fact]
    public void TokensForAnotherCidForgedOrDamagedDoNotOpen()
    {
        var secret = NewSecret();
        var sealer = new DownloadTokenSealer(secret, TimeProvider.System);
        var text = sealer.Seal(Cid, RandomNumberGenerator.GetBytes(32), TimeSpan.FromMinutes(5));

        Assert.Null(sealer.Open(Cid[..^1] + "a", text));
        Assert.Null(new DownloadTokenSealer(NewSecret(), TimeProvider.System).Open(Cid, text));
        Assert.Null(sealer.Open(Cid, ""));
        Assert.Null(sealer.Open(Cid, "not base64url!"));
        Assert.Null(sealer.Open(Cid, new string('A', 300)));
        for (var i = 0; i < text.Length; i++)
        {
            var flipped = text.ToCharArray();
            flipped[i] = flipped[i] == 'A' ? 'B' : 'A';
            Assert.Null(sealer.Open(Cid, new string(flipped)));
        }
    }

    [Fact]
    public void TheSecretIsCreatedOnceWithOwnerOnlyPermissions()
    {
        var folder = Directory.CreateTempSubdirectory("detach-secret-");
        try
        {
            var first = GatewaySecret.LoadOrCreate(folder.FullName);
            var second = GatewaySecret.LoadOrCreate(folder.FullName);
            var path = Path.Combine(folder.FullName, GatewaySecret.FileName);

            Assert.Equal(first.Key.ToArray(), second.Key.ToArray());
            Assert.Equal(GatewaySecret.Length, new FileInfo(path).Length);
            Assert.Single(Directory.GetFiles(folder.FullName));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
