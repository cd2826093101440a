"""What a subscriber can do from a page, a link or the API, and what they are mailed on request.

`actions` (subscribe, confirm, manage, vote, leave), `mails` (the confirmation and the manage link, built
through `digest.mail` only), `pages` (their digest again in the browser, what interests would match today),
`addresses` (one check of an email address). The web front and the command line call these; neither
loads the send engine through them.
"""
