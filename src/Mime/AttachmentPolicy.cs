namespace Detach.Mime;

public enum PartAction
{
    /// <summary>Leave the part in the mail as it is.</summary>
    Keep,
    /// <summary>Store the decoded content and replace the part with a link.</summary>
    Detach,
    /// <summary>A container: decide for its children.</summary>
    Descend,
}

public sealed record PartDecision(PartAction Action, string Reason);

/// <summary>Everything <see cref="AttachmentPolicy.Classify"/> looks at, so that it stays a pure function.</summary>
/// <param name="MimeType">Lower-case "type/subtype".</param>
/// <param name="Disposition">Lower-case disposition type or null when the part has none.</param>
/// <param name="FileName">Decoded file name as sent (before sanitising), or null.</param>
/// <param name="ParentMimeType">Content type of the enclosing multipart, or null for the message itself.</param>
/// <param name="InsideProtectedPart">Below a multipart/signed or encrypted part: touching it breaks the signature.</param>
/// <param name="IsCidReferenced">An HTML body of the same multipart/related refers to this part by cid:.</param>
/// <param name="IsOpaque">The parser could not read the part's headers within its limits.</param>
/// <param name="HasEncapsulatedMessage">A message/rfc822 part whose message was parsed.</param>
public sealed record PartContext(
    string MimeType,
    string? Disposition,
    string? FileName,
    string? ContentId,
    long EncodedLength,
    TransferEncoding TransferEncoding,
    bool IsRoot,
    string? ParentMimeType,
    bool InsideProtectedPart,
    bool IsCidReferenced,
    bool IsOpaque,
    bool HasEncapsulatedMessage);

/// <summary>The detach policy: which parts leave the mail. One pure function over a part's headers and context.</summary>
public static class AttachmentPolicy
{
    public static PartDecision Classify(PartContext part, DetachPolicyOptions options)
    {
        ArgumentNullException.ThrowIfNull(part);
        ArgumentNullException.ThrowIfNull(options);
        string type = part.MimeType;
        if (part.IsOpaque)
        {
            return Keep("headers exceed the parser's limits");
        }

        if (part.InsideProtectedPart)
        {
            return Keep("inside a signed or encrypted part");
        }

        if (type.StartsWith("multipart/", StringComparison.Ordinal))
        {
            return new PartDecision(PartAction.Descend, "container");
        }

        if (part.TransferEncoding == TransferEncoding.Unknown)
        {
            return Keep("unknown transfer encoding");
        }

        if (ProtectedReason(type) is { } protectedReason)
        {
            return Keep(protectedReason);
        }

        if (type is "message/external-body" or "message/partial" or "message/delivery-status" or "message/disposition-notification"
            or "message/global-delivery-status" or "message/global-disposition-notification" or "text/rfc822-headers"
            or "application/pgp-signature" or "application/pkcs7-signature" or "application/x-pkcs7-signature")
        {
            return Keep("structural part");
        }

        if (part.ParentMimeType is "multipart/alternative")
        {
            return Keep("an alternative body");
        }

        if (part.ParentMimeType is "multipart/report" && type is "message/rfc822" or "message/global" or "text/rfc822-headers")
        {
            return Keep("returned message of a delivery report");
        }

        bool isMessage = type is "message/rfc822" or "message/global" or "message/news";
        if (isMessage && part.Disposition != "attachment")
        {
            // A digest's messages and forwards shown inline are read in place.
            if (part.ParentMimeType is "multipart/digest" || part.Disposition == "inline")
            {
                return part.HasEncapsulatedMessage ? new PartDecision(PartAction.Descend, "inline message") : Keep("inline message");
            }
        }
        if (isMessage && !options.DetachForwardedMessages)
        {
            return part.HasEncapsulatedMessage ? new PartDecision(PartAction.Descend, "forwarded messages are descended into") : Keep("forwarded message");
        }

        bool textBody = type is "text/plain" or "text/html" && part.Disposition != "attachment";
        if (textBody)
        {
            return Keep("text body");
        }

        if (part.IsRoot && part.Disposition != "attachment" && part.FileName is null && !isMessage)
        {
            return Keep("message body");
        }

        if (options.KeepCidReferencedImages && part.IsCidReferenced)
        {
            return Keep("referenced by cid: from the HTML body");
        }

        bool attachment = isMessage
            || part.Disposition == "attachment"
            || (part.Disposition is null && part.FileName is not null)
            || (options.DetachInlineNamedParts && part.Disposition == "inline" && part.FileName is not null);
        if (!attachment)
        {
            return Keep(part.Disposition == "inline" ? "inline part" : "not an attachment");
        }

        if (type is "text/calendar" && part.Disposition != "attachment")
        {
            return Keep("calendar invitation");
        }

        if (part.EncodedLength < options.MinSizeBytes)
        {
            return Keep("smaller than Policy:MinSizeBytes");
        }

        return new PartDecision(PartAction.Detach, isMessage ? "forwarded message" : "attachment");

        static PartDecision Keep(string reason) => new(PartAction.Keep, reason);
    }

    /// <summary>"signed message" / "encrypted message" for content types whose bytes must not change, else null.</summary>
    public static string? ProtectedReason(string mimeType) => mimeType switch
    {
        "multipart/signed" => "signed message",
        "multipart/encrypted" or "application/pgp-encrypted" => "encrypted message",
        "application/pkcs7-mime" or "application/x-pkcs7-mime" => "signed or encrypted message",
        _ => null,
    };
}
