using System.Globalization;
using System.Security.Cryptography;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Http;
using Npgsql;
using IpfsNodeFixture = Detach.Vault.Tests.Storage.IpfsNodeFixture;
using PostgresServerFixture = Detach.Vault.Tests.Index.PostgresServerFixture;

namespace Detach.EndToEnd.Tests.Scale;

/// <summary>
/// Two `detach serve` processes sharing one vault, as README's "Scaling out" describes: one PostgreSQL index
/// (a private server), one IPFS node (js-ipfs), one gateway secret file, and one PublicUrl (the balancer's).
/// Each has its own data folder (spool) and ports. One Postfix runs the documented before-queue setup twice:
/// inbound smtpd <see cref="InboundPortA"/> proxies to A, <see cref="InboundPortB"/> to B, both reinject into the
/// same after-filter smtpd and queue. Maintenance timers are off (one run at start): the tests run `vault gc`.
/// </summary>
public sealed class TwoInstances : IAsyncDisposable
{
    /// <summary>Where links point: the balancer in front of both gateways (the tests call each gateway directly).</summary>
    public const string PublicUrl = "https://files.example.test";

    public const string Sender = "sender@example.test";

    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly DirectoryInfo _folder;

    private TwoInstances(DirectoryInfo folder, PostgresServerFixture postgres, IpfsNodeFixture node, PostfixInstance postfix, int inboundPortB)
    {
        _folder = folder;
        Postgres = postgres;
        Node = node;
        Postfix = postfix;
        InboundPortB = inboundPortB;
    }

    public PostgresServerFixture Postgres { get; }

    public IpfsNodeFixture Node { get; }

    public PostfixInstance Postfix { get; }

    public DetachProcess A { get; private set; } = null!;

    public DetachProcess B { get; private set; } = null!;

    public int InboundPortA => Postfix.InboundPort;

    public int InboundPortB { get; }

    /// <summary>The one gateway secret both data folders link to.</summary>
    public string SecretFile => Path.Combine(_folder.FullName, GatewaySecret.FileName);

    /// <summary>The settings both instances share (an in-process third party can open the same vault with them).</summary>
    public IReadOnlyList<string> SharedSettings { get; private set; } = [];

    /// <summary>Skips the calling test when a peer is not installed (before the shared setup starts, so it is not a failure).</summary>
    public static void RequirePeers()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        var postgres = Environment.GetEnvironmentVariable(PostgresServerFixture.ExistingServerVariable) is { Length: > 0 }
            || (Directory.Exists("/usr/lib/postgresql")
                && Directory.EnumerateDirectories("/usr/lib/postgresql").Any(d => File.Exists(Path.Combine(d, "bin", "initdb"))));
        if (!postgres)
        {
            Assert.Skip("PostgreSQL is not installed (apt-get install -y postgresql, or scripts/install-test-deps.sh): two instances share its index.");
        }
    }

    public static async Task<TwoInstances> StartAsync(CancellationToken cancellationToken)
    {
        var folder = Directory.CreateTempSubdirectory("detach-scale-");
        var postgres = new PostgresServerFixture();
        var node = new IpfsNodeFixture();
        PostfixInstance? postfix = null;
        TwoInstances? setup = null;
        try
        {
            await Task.WhenAll(postgres.InitializeAsync().AsTask(), node.InitializeAsync().AsTask());
            if (postgres.SkipReason is not null)
            {
                Assert.Skip(postgres.SkipReason);
            }

            node.RequireNode();
            var ports = FreePort.Next(3);
            var (filterA, filterB, inboundB) = (ports[0], ports[1], ports[2]);
            postfix = await PostfixInstance.StartAsync(
                PostfixOptions.WithFilter(filterA) with { Mailboxes = ["alice", "bob", "carol", "sender"] }, cancellationToken);
            await AddInboundServiceAsync(postfix, inboundB, filterB, cancellationToken);
            setup = new TwoInstances(folder, postgres, node, postfix, inboundB);

            await File.WriteAllBytesAsync(setup.SecretFile, RandomNumberGenerator.GetBytes(GatewaySecret.Length), cancellationToken);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(setup.SecretFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            setup.SharedSettings =
            [
                $"PublicUrl={PublicUrl}",
                $"Smtp:NextHop=smtp://127.0.0.1:{postfix.ReinjectPort.ToString(CultureInfo.InvariantCulture)}",
                "Index:Kind=postgres",
                $"Index:ConnectionString={postgres.ConnectionString}",
                $"Vault:IpfsApiUrl={node.ApiUrl.AbsoluteUri.TrimEnd('/')}",
                "Vault:WhenNodeDown=Spool",
                "Vault:IpfsTimeoutSeconds=10",
                "Vault:MaintenanceIntervalSeconds=86400",
            ];

            // Both start at once: their index migrations race on the one database, as a rolling start would.
            var a = setup.StartInstanceAsync("a", filterA, cancellationToken);
            var b = setup.StartInstanceAsync("b", filterB, cancellationToken);
            await Task.WhenAll(a, b);
            (setup.A, setup.B) = (await a, await b);
            return setup;
        }
        catch
        {
            if (setup is not null)
            {
                await setup.DisposeAsync();
            }
            else
            {
                if (postfix is not null)
                {
                    await postfix.DisposeAsync();
                }

                await node.DisposeAsync();
                await postgres.DisposeAsync();
                folder.Delete(recursive: true);
            }

            throw;
        }
    }

    /// <summary>swaks into the Postfix inbound smtpd that proxies to <paramref name="instance"/>.</summary>
    public Swaks SwaksThrough(DetachProcess instance) =>
        new Swaks(ReferenceEquals(instance, A) ? InboundPortA : InboundPortB).From(Sender);

    /// <summary>Waits for the message with <paramref name="messageId"/> in <paramref name="mailbox"/> and the queue to drain; returns its only copy.</summary>
    public async Task<DeliveredMail> WaitForMailAsync(string mailbox, string messageId, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var copies = new List<DeliveredMail>();
            foreach (var path in Postfix.MessagesIn(mailbox))
            {
                var mail = await DeliveredMail.ReadAsync(path, cancellationToken);
                if (mail.Header("Message-ID") == messageId)
                {
                    copies.Add(mail);
                }
            }

            if (copies.Count > 0)
            {
                Assert.Single(copies);
                return copies[0];
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"No message {messageId} in {mailbox} after {Patience.TotalSeconds} s.\nPostfix log:\n{await Postfix.ReadLogAsync(cancellationToken)}\n" +
                    $"detach A:\n{A.Output}\ndetach B:\n{B.Output}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>Runs SQL on the shared index (to age records as time would).</summary>
    public async Task<int> ExecuteSqlAsync(string sql, Action<NpgsqlParameterCollection> bind, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(Postgres.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        bind(command.Parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The vault as a third party on this host sees it (same index, node and settings), opened in-process.</summary>
    public Task<VaultComponents> OpenVaultAsync(CancellationToken cancellationToken) =>
        VaultComponents.OpenAsync(
            DetachSettings.Load(DetachConfiguration.Build(null, [$"DataPath={Path.Combine(_folder.FullName, "test")}", .. SharedSettings])),
            cancellationToken);

    public async ValueTask DisposeAsync()
    {
        foreach (var instance in new[] { A, B })
        {
            if (instance is not null)
            {
                await instance.DisposeAsync();
            }
        }

        await Postfix.DisposeAsync();
        await Node.DisposeAsync();
        await Postgres.DisposeAsync();
        if (Environment.GetEnvironmentVariable(PostfixInstance.KeepDirectoriesVariable) != "1")
        {
            try
            {
                _folder.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A file still closing; the temp folder goes with the OS's cleanup.
            }
        }
    }

    private async Task<DetachProcess> StartInstanceAsync(string name, int smtpPort, CancellationToken cancellationToken)
    {
        // "Give every instance the same file": here one file both data folders link to.
        var dataPath = Path.Combine(_folder.FullName, name);
        Directory.CreateDirectory(dataPath);
        File.CreateSymbolicLink(Path.Combine(dataPath, GatewaySecret.FileName), SecretFile);
        return await DetachProcess.StartAsync(name.ToUpperInvariant(), dataPath, smtpPort, SharedSettings, cancellationToken);
    }

    /// <summary>
    /// A second before-filter smtpd in the same Postfix, from the same deployed fragment: its inbound service block
    /// rendered for another port and proxy filter, appended to master.cf. The after-filter smtpd is shared.
    /// </summary>
    private static async Task AddInboundServiceAsync(PostfixInstance postfix, int inboundPort, int filterPort, CancellationToken cancellationToken)
    {
        var service = $"127.0.0.1:{inboundPort.ToString(CultureInfo.InvariantCulture)}";
        var rendered = PostfixTemplates.RenderSubset(PostfixTemplates.ReadMasterFragment(), new Dictionary<string, string>
        {
            [PostfixTemplates.Inbound] = service,
            [PostfixTemplates.FilterPort] = filterPort.ToString(CultureInfo.InvariantCulture),
            [PostfixTemplates.ReinjectPort] = postfix.ReinjectPort.ToString(CultureInfo.InvariantCulture),
            [PostfixTemplates.ProxyTimeout] = "100s",
        }).Split('\n');
        var start = Array.FindIndex(rendered, l => l.StartsWith(service + " ", StringComparison.Ordinal));
        Assert.True(start >= 0, "deploy/postfix/master.cf.fragment has no inbound service line");
        var block = rendered.Skip(start).TakeWhile((line, i) => i == 0 || line.StartsWith("  ", StringComparison.Ordinal));
        await File.AppendAllTextAsync(Path.Combine(postfix.ConfigDirectory, "master.cf"),
            "\n# ---- a second before-filter smtpd, proxying to instance B ----\n" + string.Join('\n', block) + "\n", cancellationToken);
        await postfix.ReloadAsync(cancellationToken);
        await FreePort.WaitUntilListeningAsync(inboundPort, TimeSpan.FromSeconds(30), cancellationToken);
    }
}

/// <summary>One <see cref="TwoInstances"/> per test class, started by the first test (after its peers were checked).</summary>
public sealed class TwoInstancesSetup : SharedSetup<TwoInstances>
{
    protected override Task<TwoInstances> StartAsync(CancellationToken cancellationToken) => TwoInstances.StartAsync(cancellationToken);
}
