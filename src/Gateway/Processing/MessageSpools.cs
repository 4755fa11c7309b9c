using Detach.Gateway.Configuration;

namespace Detach.Gateway.Processing;

/// <summary>
/// Spools for the messages the host is receiving, through the SMTP front and the milter alike: each in memory up to
/// <see cref="DetachOptions.MessageMemoryBytes"/>, all of them together up to
/// <see cref="DetachOptions.TotalMessageMemoryBytes"/> (one budget for the host, so that running both fronts does not
/// double what mail may hold), the rest in private files under DataPath/tmp.
/// </summary>
public sealed class MessageSpools(DetachOptions options)
{
    private readonly string _dataPath = options.FullDataPath;
    private readonly long _messageMemoryBytes = options.MessageMemoryBytes;
    private readonly SpillBudget _budget = new(options.TotalMessageMemoryBytes);

    /// <summary>Memory no spool holds right now.</summary>
    public long AvailableMemoryBytes => _budget.Available;

    public SpillStream Create() => new(_dataPath, _messageMemoryBytes, _budget);
}
