using Detach.Vault.Storage;

namespace Detach.Vault.Tests.Storage;

/// <summary>
/// A node holding a file's root but not all its leaves. On its own node: js-ipfs 0.66 can die of
/// an unhandled "Want … aborted" after such a timed-out request, which must not take the shared node down.
/// </summary>
public sealed class MissingBlockTests(IpfsNodeFixture node) : IClassFixture<IpfsNodeFixture>, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "detach-store-" + Guid.NewGuid().ToString("N")[..12]);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Cat_BlockMissingMidFile_FailsInsteadOfEndingEarly()
    {
        node.RequireNode();
        var client = node.CreateClient(transferTimeout: TimeSpan.FromSeconds(4));
        var store = new LocalContentStore(_root);
        // Thirteen leaves then the root: block 5 is leaf 5. js-ipfs fails such a cat before the
        // first byte (500); Kubo may fail it mid-stream (X-Stream-Error trailer). Either way the
        // reader must get an error, never a short stream that ends cleanly.
        const int size = 13 * 262_144 + 5;
        var local = await store.AddAsync(new PatternStream(107, size), Ct);
        using var car = new MemoryStream();
        await new CarExporter(store).WriteAsync(local.Cid, car, Ct);
        var partial = WithoutBlock(car.ToArray(), index: 5);
        await Assert.ThrowsAnyAsync<KuboException>(() => client.DagImportAsync(new MemoryStream(partial), Ct));

        long received = 0;
        var e = await Assert.ThrowsAnyAsync<KuboException>(async () =>
        {
            await using var cat = await client.CatAsync(local.Cid, cancellationToken: Ct);
            var buffer = new byte[65_536];
            int n;
            while ((n = await cat.ReadAsync(buffer, Ct)) > 0)
            {
                received += n;
            }
        });
        Assert.True(received <= 5L * 262_144, $"received {received} bytes");
        TestContext.Current.TestOutputHelper?.WriteLine($"missing block after {received} bytes: {e.GetType().Name}: {e.Message}");
    }

    /// <summary>A copy of a CARv1 without its block number <paramref name="index"/> (our CIDs are 36 bytes).</summary>
    private static byte[] WithoutBlock(byte[] car, int index)
    {
        var output = new MemoryStream();
        var p = 0;
        var section = 0;
        while (p < car.Length)
        {
            var start = p;
            ulong length = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = car[p++];
                length |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    break;
                }
            }
            p += (int)length;
            // Section 0 is the header; block i is section i + 1.
            if (section++ != index + 1)
            {
                output.Write(car, start, p - start);
            }
        }
        return output.ToArray();
    }
}
