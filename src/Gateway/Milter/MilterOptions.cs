using Detach.Milter;

namespace Detach.Gateway.Milter;

/// <summary>The milter service (section "Milter"): where Postfix's smtpd_milters (or Sendmail's X line) connects.</summary>
public sealed class MilterOptions
{
    /// <summary>
    /// inet:127.0.0.1:10027, 127.0.0.1:10027 or unix:/path/milter.sock, as smtpd_milters names it. Empty (the default)
    /// leaves the milter off.
    /// </summary>
    public string? Listen { get; set; }

    /// <summary>Concurrent MTA connections: Postfix holds one per SMTP session (and one per cleanup process for non_smtpd_milters).</summary>
    public int MaxConnections { get; set; } = 100;

    /// <summary>Seconds the MTA may stay silent between frames; keep it above Postfix's smtpd_timeout (300 s).</summary>
    public int IdleTimeoutSeconds { get; set; } = 600;

    /// <summary>Seconds between SMFIR_PROGRESS frames while attachments are stored; keep it below milter_content_timeout (300 s).</summary>
    public int ProgressIntervalSeconds { get; set; } = 10;

    /// <summary>Largest frame taken from the MTA; Postfix sends a header field in one frame, up to its header_size_limit.</summary>
    public int MaxFrameBytes { get; set; } = 1024 * 1024;

    /// <summary>Header fields per message; a message with more passes unchanged (as the proxy passes an over-long header block).</summary>
    public int MaxHeaders { get; set; } = 1000;

    /// <summary>Macros kept per protocol stage.</summary>
    public int MaxMacros { get; set; } = 64;

    public IEnumerable<string> Validate()
    {
        if (!string.IsNullOrWhiteSpace(Listen) && !MilterEndPoint.TryParse(Listen, out _, out var error))
        {
            yield return $"Milter:Listen {error}";
        }

        if (MaxConnections is < 1 or > 100_000)
        {
            yield return $"Milter:MaxConnections must be between 1 and 100000, not {MaxConnections}.";
        }

        if (IdleTimeoutSeconds is < 10 or > 86_400)
        {
            yield return $"Milter:IdleTimeoutSeconds must be between 10 and 86400, not {IdleTimeoutSeconds}.";
        }

        if (ProgressIntervalSeconds < 1 || ProgressIntervalSeconds >= IdleTimeoutSeconds)
        {
            yield return $"Milter:ProgressIntervalSeconds must be at least 1 and below Milter:IdleTimeoutSeconds, not {ProgressIntervalSeconds}.";
        }

        if (MaxFrameBytes is < MilterServerOptions.SmallestFrameLimit or > 64 * 1024 * 1024)
        {
            yield return $"Milter:MaxFrameBytes must be between {MilterServerOptions.SmallestFrameLimit} (one body chunk) and 67108864, not {MaxFrameBytes}.";
        }

        if (MaxHeaders is < 10 or > 100_000)
        {
            yield return $"Milter:MaxHeaders must be between 10 and 100000, not {MaxHeaders}.";
        }

        if (MaxMacros is < 8 or > 10_000)
        {
            yield return $"Milter:MaxMacros must be between 8 and 10000, not {MaxMacros}.";
        }
    }
}
