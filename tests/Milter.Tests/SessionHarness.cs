using System.IO.Pipelines;

namespace Detach.Milter.Tests;

/// <summary>A <see cref="MilterSession"/> on in-memory pipes, with a <see cref="TestMta"/> on the other end.</summary>
internal sealed class SessionHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    private SessionHarness(MilterServerOptions options, RecordingBackend backend)
    {
        var toMilter = new Pipe();
        var fromMilter = new Pipe();
        Backend = backend;
        Mta = new TestMta(toMilter.Writer, fromMilter.Reader);
        Session = new MilterSession(toMilter.Reader, fromMilter.Writer, new MilterContext("t1", null, new MilterMacros(options.MaxMacrosPerStage)), backend, options);
        Run = Task.Run(() => Session.RunAsync(_stop.Token));
    }

    public RecordingBackend Backend { get; }

    public TestMta Mta { get; }

    public MilterSession Session { get; }

    /// <summary>Ends when the session does.</summary>
    public Task Run { get; }

    public static SessionHarness Start(Action<MilterServerOptions>? configure = null, RecordingBackend? backend = null)
    {
        var options = new MilterServerOptions { ProgressInterval = TimeSpan.FromMilliseconds(50) };
        options.MacroRequests[MilterMacroStage.EndOfMessage] = "i";
        configure?.Invoke(options);
        return new SessionHarness(options, backend ?? new RecordingBackend());
    }

    /// <summary>Negotiates as Postfix does and returns the milter's answer.</summary>
    public async Task<TestMta.Reply> NegotiateAsync(uint version = 6, uint actions = TestMta.PostfixActions, uint options = TestMta.PostfixOptions)
    {
        await Mta.SendAsync(TestMta.Negotiation(version, actions, options));
        return (await Mta.ReadAsync())!;
    }

    public async Task<string> WaitForEndAsync()
    {
        await Run.WaitAsync(TimeSpan.FromSeconds(10));
        return Session.EndReason;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Mta.CloseAsync();
        await Run.WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
