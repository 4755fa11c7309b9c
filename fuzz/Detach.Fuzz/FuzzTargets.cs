using Detach.Fuzz.Targets;

namespace Detach.Fuzz;

internal static class FuzzTargets
{
    // The milter frame reader (src/Milter, MilterFrameReader) joins this list when it exists: a target that
    // reads frames from arbitrary bytes and checks 1 <= length <= cap before any allocation, and that a frame
    // it accepts re-serialises to the same bytes.
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
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
