using Detach.Fuzz.Targets;

namespace Detach.Fuzz;

internal static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new MimeRewriteTarget(),
        new SmtpCommandTarget(),
        new SmtpDataTarget(),
        new SmtpBdatTarget(),
        new SmtpReplyTarget(),
        new HttpRangeTarget(),
        new LinkTarget(),
        new KuboJsonTarget(),
        new CidTarget(),
        new RecordDecryptTarget(),
        new MilterFrameTarget(),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
