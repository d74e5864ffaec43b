/** English catalogue: the reference every other locale must match key for key. */
export const enUS = {
  'refusal.prompt_empty': 'Your prompt is empty. Describe the video you want, in up to {max} characters.',
  'refusal.prompt_too_long': 'Your prompt is {length} characters; the limit is {max}. Shorten it and try again.',
  'refusal.seed_range': 'The seed must be a whole number from 10000 to 99999.',
  'refusal.dm_disabled': 'This bot works in servers only. Use the command in a server channel.',
  'refusal.missing_permissions':
    'I cannot post your video here: I am missing {permissions} in this channel. Ask a server admin to grant it, or try another channel.',
  'refusal.not_member':
    'I am not a member of this server, so I cannot post here. Ask a server admin to invite the bot.',
  'refusal.paused_credits':
    'Video generation is paused: the service account is out of credits. I check every minute and accept videos again as soon as it is topped up; try again later.',
  'refusal.paused_maintenance':
    'Video generation is paused for maintenance at the video service. Try again in a few minutes.',
  'refusal.credits':
    'The bot has spent its video budget for the last 24 hours, which every server shares. Enough frees up {when}. Nothing was charged.',
  'refusal.credits_never':
    'The {model} model costs more than the bot’s whole daily video budget, so it cannot run. Pick a cheaper model.',
  'refusal.blocked':
    'A server admin has blocked you from generating videos here. Ask them if you think this is a mistake.',
  'refusal.budget': "This server's shared video budget for the last 24 hours is spent. Enough frees up {when}.",
  'refusal.active_jobs': 'You already have {max} videos in progress here. Try again when one of them finishes.',
  'refusal.quota':
    'You have {remaining} of your {limit} units left and {model} costs {cost}. Enough units come back {when}.',
  'refusal.daily':
    'You have {remaining} of your {limit} units left for the last 24 hours across all servers, and {model} costs {cost} here. Enough units come back {when}.',
  'refusal.daily_never':
    '{model} costs {cost} units here, more than the {limit} units anyone may use per 24 hours across all servers. Pick a cheaper model.',
  'refusal.model_unavailable':
    'The {model} model costs {cost} units, more than this server allows, so it is not available here. Pick {available}.',
  'refusal.no_model_available':
    'No model is cheap enough to run on this server right now. Ask a server admin to check `/veo-admin limits`.',
  'refusal.image_type':
    'The `{option}` attachment is not an image I can use. Attach a JPEG, PNG or WebP image of up to {max}.',
  'refusal.image_too_large':
    'The `{option}` attachment is {size}; the limit is {max}. Attach a smaller JPEG, PNG or WebP image.',
  'refusal.filtered':
    'Your prompt contains a word or phrase this server does not allow. Change it and try again; nothing was charged.',
  'status.queued': '⏳ Queued: position {position}. Generation starts in turn.',
  'status.submitting': '⏳ Sending your prompt to the video service…',
  'status.generating': '🎬 Generating with {model} ({aspect}), started {started}.',
  'status.extending': '🎬 Extending the video with {model}, started {started}.',
  'status.delivering': '📦 Your video is ready; uploading it…',
  'status.eta': '{eta} (recent ones took about {duration})',
  'duration.seconds': '{n} s',
  'duration.minutes': '{n} min',
  'result.ready': '✅ Your video is ready.',
  'result.ready_late': '✅ Your video finished late; it is free: your units were refunded.',
  'result.too_large': 'The video is larger than this channel allows ({limit}), so here is a link instead.',
  'result.undeliverable': 'Your video is ready, but Discord would not show it here. Here is the link: {url}',
  'result.units_left': '{remaining} of {limit} units left',
  'result.mention': '<@{user}> your video is ready: {link}',
  'button.hd': '1080P',
  'button.uhd': '4K',
  'button.open': 'Open video',
  'button.rerun': 'Rerun',
  'button.extend': 'Extend',
  'button.details': 'Details',
  'field.model': 'Model',
  'field.aspect': 'Aspect',
  'field.seed': 'Seed',
  'field.prompt': 'Prompt',
  'field.queue': 'Queue position',
  'field.started': 'Started',
  'field.eta': 'Expected',
  'field.state': 'State',
  'field.requester': 'Requested by',
  'field.task': 'Task id',
  'field.extends': 'Extends task',
  'field.requested': 'Requested',
  'field.finished': 'Finished',
  'state.queued': 'Queued',
  'state.submitting': 'Sending',
  'state.generating': 'Generating',
  'state.delivering': 'Uploading',
  'state.delivered': 'Delivered',
  'state.undeliverable': 'Made, not delivered',
  'state.failed': 'Failed',
  'details.title': 'Video details',
  'details.seed_random': 'chosen by the video service',
  'action.not_yours':
    'Only <@{user}>, who made this video, or a member with Manage Server can rerun or extend it. Make your own with `/veo prompt`.',
  'action.rerun_images_gone':
    'This video was made from pictures more than 20 hours ago, and the video service has deleted its copy of them, so it cannot be rerun. Run `/veo animate` again with the pictures.',
  'action.rerun_references_gone':
    'This video was made from reference pictures more than 20 hours ago, and the video service has deleted its copy of them, so it cannot be rerun. Run `/veo reference` again with the pictures.',
  'action.extend_not_ready': 'This video is not finished yet, so there is nothing to extend.',
  'action.extend_too_old':
    'This video is more than 14 days old; the video service no longer keeps it, so it cannot be extended.',
  'action.extend_hd':
    'This video was upgraded to 1080P, and the video service cannot extend an upgraded video. Rerun it and extend the new one instead.',
  'action.extend_uhd':
    'This video was upgraded to 4K, and the video service cannot extend an upgraded video. Rerun it and extend the new one instead.',
  'extend.title': 'Extend this video',
  'extend.label': 'What happens next?',
  'extend.description': 'Describe how the video should continue, in up to {max} characters.',
  'jobs.title': 'Your last {count} videos here',
  'jobs.empty': 'You have no videos on record here yet. Make one with `/veo prompt`.',
  'jobs.message': 'message',
  'jobs.video': 'video',
  'jobs.video_expired': 'file expired (the video service keeps videos 14 days)',
  'settings.title':
    '**Your defaults**: used whenever you leave an option out, in every server. An option you give always wins.',
  'settings.model': 'Model: {value}',
  'settings.aspect': 'Aspect: {value}',
  'settings.private': 'Private: {value}',
  'settings.bot_default': '{value} (bot default)',
  'settings.aspect_own': 'each command’s own: 16:9, or Auto for pictures',
  'settings.yes': 'yes, only you see progress and videos',
  'settings.no': 'no, the channel sees them',
  'settings.option_model_default': 'Bot default ({model})',
  'settings.option_aspect_default': 'Each command’s own (16:9; Auto for pictures)',
  'settings.option_landscape': '16:9 landscape',
  'settings.option_portrait': '9:16 portrait',
  'settings.option_public': 'Public: the channel sees progress and videos',
  'settings.option_private': 'Private: only you see progress and videos',
  'settings.forget': 'Forget my defaults',
  'settings.saved': '✅ Saved.',
  'settings.forgotten': '🗑️ Your defaults were deleted; the bot’s defaults apply again.',
  'permission.view_channel': 'View Channel',
  'permission.send_messages': 'Send Messages',
  'permission.send_messages_in_threads': 'Send Messages in Threads',
  'permission.embed_links': 'Embed Links',
  'permission.attach_files': 'Attach Files',
  'permission.read_message_history': 'Read Message History',
  'mirror.in_progress': '🎬 {user} is making a video with {model}.',
  'mirror.delivered': '✅ {user} made a video with {model}: delivered.',
  'mirror.undeliverable': '⚠️ {user} made a video with {model}: it exists but could not be delivered.',
  'mirror.failed': '❌ {user} asked for a video with {model}: failed, refunded.',
  'mirror.private': '🔒 A private video: its prompt and result are for the member only.',
  'mirror.job_message': 'Job message',
  'mirror.welcome': '📋 {user} made this the Veo Bot log channel.',
  'mirror.welcome_detail': 'Every video made in this server will appear here as one message, updated with its outcome.',
  'failed.title': '❌ The video could not be made.',
  'failed.refunded': 'Nothing was charged: {units} unit(s) returned to you.',
  'failed.content_policy': 'The video service refused this request under its content policy: {policy}',
  'failed.english_only': 'The video service accepts English prompts only for this request. Try the prompt in English.',
  'failed.image_fetch': 'The video service could not fetch your image. Try again in a few minutes.',
  'failed.unsafe_image': 'The video service refused your image as unsafe. Try a different image.',
  'failed.unauthorized': 'The bot is not authorised at the video service. A server admin should check the bot’s setup.',
  'failed.credits': 'The video service account is out of credits.',
  'failed.not_found': 'The video service no longer knows this task.',
  'failed.validation': 'The video service rejected the request’s settings.',
  'failed.rate_limited': 'The video service is busy. Try again in a minute.',
  'failed.key_cap': 'The bot’s video service key reached its usage cap.',
  'failed.image_access': 'The video service was not allowed to fetch your image. Try again in a few minutes.',
  'failed.maintenance': 'The video service is down for maintenance.',
  'failed.server': 'The video service had an internal error.',
  'failed.generation_failed': 'The video service failed to generate this video.',
  'failed.feature_disabled': 'The video service has this feature switched off.',
  'failed.blocked': 'The video service refused the bot’s connection.',
  'failed.unknown': 'The video service reported an error.',
  'failed.unknown_outcome':
    'Sorry: the video service did not confirm whether it accepted your request, so I stopped here rather than risk charging twice.',
  'failed.timeout': 'The video service took longer than 30 minutes. If it finishes later, I will still post it, free.',
  'failed.queue_timeout': 'The video service stayed paused for 30 minutes, so your request was cancelled.',
  'failed.not_an_image':
    'An attached file is not actually a JPEG, PNG or WebP image, so nothing was sent to the video service.',
  'failed.image_too_large':
    'An attached image turned out larger than the size limit, so nothing was sent to the video service.',
  'failed.image_download': 'I could not download your image from Discord. Attach it again and retry.',
  'failed.image_upload':
    'I could not hand your image to the video service: its upload failed twice. Try again in a few minutes.',
  'failed.image_interrupted':
    'Sorry: the bot restarted before your image reached the video service, so I stopped here. Please run the command again.',
  'failed.image_refused':
    'Your image’s link points somewhere the bot does not fetch from, so nothing was sent to the video service. Attach the image again.',
  'failed.media_refused':
    'The video service returned a file the bot will not fetch or post (not a safe public link, or not an MP4 video), so nothing was posted.',
  'hd.preparing': '⏳ Preparing the 1080P version. This takes one to three minutes.',
  'hd.already': 'The 1080P version is already being prepared. It will appear here shortly.',
  'hd.ready': '1080P version: {url}',
  'hd.ready_file': '✅ 1080P version.',
  'hd.too_large': 'The 1080P file is larger than this channel allows ({limit}), so here is a link: {url}',
  'hd.failed': 'The 1080P version could not be prepared. Try the button again later.',
  'hd.refused':
    'The video service returned a 1080P file the bot will not fetch or post (not a safe public link, or not an MP4 video).',
  'hd.not_ready': 'This video is not finished yet, so there is no 1080P version to make.',
  'hd.not_yours':
    'Only <@{user}>, who made this video, or a member with Manage Server can ask for its 1080P version: it uses the bot’s credits, and an upgraded video can no longer be extended.',
  'hd.credits':
    'The bot has spent its video budget for the last 24 hours, so the 1080P version cannot be made now. Try again {when}.',
  'hd.credits_never': 'A 1080P version costs more than the bot’s whole daily video budget, so it cannot be made.',
  'hd.too_old':
    'This video is more than 14 days old; the video service no longer keeps it, so there is no 1080P version to make.',
  'uhd.preparing':
    '⏳ Preparing the 4K version: this usually takes 5 to 10 minutes. It costs {cost} units, returned if it cannot be made.',
  'uhd.already': 'The 4K version is already being prepared. It will appear here when it is ready.',
  'uhd.ready': '4K version: {url}',
  'uhd.ready_file': '✅ 4K version.',
  'uhd.too_large': 'The 4K file is larger than this channel allows ({limit}), so here is a link: {url}',
  'uhd.failed': 'The 4K version could not be made, so its units were returned. Try the button again later.',
  'uhd.refused':
    'The video service returned a 4K file the bot will not fetch or post (not a safe public link, or not an MP4 video), so its units were returned.',
  'uhd.not_ready': 'This video is not finished yet, so there is no 4K version to make.',
  'uhd.not_yours':
    'Only <@{user}>, who made this video, or a member with Manage Server can ask for its 4K version: it costs units and the bot’s credits, and an upgraded video can no longer be extended.',
  'uhd.too_old':
    'This video is more than 14 days old; the video service no longer keeps it, so there is no 4K version to make.',
  'uhd.credits':
    'The bot has spent its video budget for the last 24 hours, so the 4K version cannot be made now. Try again {when}. Nothing was charged.',
  'uhd.credits_never': 'A 4K version costs more than the bot’s whole daily video budget, so it cannot be made.',
  'uhd.quota':
    'You have {remaining} of your {limit} units left and a 4K version costs {cost}. Enough units come back {when}.',
  'uhd.quota_never':
    'A 4K version costs {cost} units, more than the {limit} units each member gets here, so it cannot be made on this server.',
  'uhd.daily':
    'You have {remaining} of your {limit} units left for the last 24 hours across all servers, and a 4K version costs {cost}. Enough units come back {when}.',
  'uhd.daily_never':
    'A 4K version costs {cost} units, more than the {limit} units anyone may use per 24 hours across all servers.',
  'quota.units': '**{remaining} of {limit} units left** · next unit back {when}',
  'quota.units_full': '**{remaining} of {limit} units left**',
  'quota.running': '{units} units held by running jobs · {active} of {max} active jobs',
  'quota.rules': 'Units come back {hours} h after use. Cost per video: {costs}.',
  'quota.cost': '{model} {cost}',
  'quota.cost_unavailable': '{model} {cost} (not available here)',
  'quota.budget': 'Server budget: {remaining} of {budget} units left over the last 24 h.',
  'quota.daily': 'Across all servers: {remaining} of {limit} units left over the last 24 h.',
  'quota.daily_next':
    'Across all servers: {remaining} of {limit} units left over the last 24 h · next unit back {when}',
  'admin.guild_only': '`/veo-admin` works in servers only.',
  'admin.forbidden':
    'You need the Manage Server permission to use `/veo-admin`. Discord’s Integrations settings can show the command to others, but the bot checks the permission itself.',
  'admin.source_server': 'set here',
  'admin.source_default': 'default',
  'admin.source_clamped': 'set here as {asked}, held to {applied}',
  'admin.bound_max': 'the bot’s operator allows at most {value}',
  'admin.bound_min': 'the bot’s operator allows no less than {value}',
  'admin.limits_title': '**Limits on this server**',
  'admin.limits_limit': 'Allowance per member: {value} units ({source})',
  'admin.limits_window': 'Window: {value} h, rolling ({source})',
  'admin.limits_cost': 'Cost of {model}: {value} units ({source})',
  'admin.limits_active': 'Videos in progress per member: {value} ({source})',
  'admin.limits_unavailable':
    'Not available here (costs more than the allowance or the budget): {models}. Members who choose it are refused.',
  'admin.limits_hint':
    'Change with `/veo-admin limits` and its options; `defaults: True` goes back to the bot’s defaults.',
  'admin.limits_updated': '✅ Limits updated. Jobs already charged keep the units they were charged.',
  'admin.limits_reset': '✅ This server now uses the bot’s default limits.',
  'admin.limits_no_model':
    'That would leave no model cheap enough to run here (the cheapest would cost {cost} units). Nothing was changed.',
  'admin.clamp_limit':
    'Allowance per member: you asked for {asked} units; the bot’s operator allows at most {applied}, so it is {applied}.',
  'admin.clamp_window':
    'Window: you asked for {asked} h; the bot’s operator allows no shorter than {applied} h, so it is {applied} h.',
  'admin.clamp_active':
    'Videos in progress per member: you asked for {asked}; the bot’s operator allows at most {applied}, so it is {applied}.',
  'admin.cost_floor':
    'The cost of {model} cannot be {asked} units: the bot’s operator set its floor at {floor}. Nothing was changed.',
  'admin.reset_done':
    '✅ <@{user}> has a fresh window: {remaining} of {limit} units. Jobs still running count as in progress until they finish.',
  'admin.block_done': '🚫 <@{user}> can no longer generate videos here. Jobs already running finish normally.',
  'admin.block_already': '<@{user}> was already blocked here.',
  'admin.unblock_done': '✅ <@{user}> can generate videos here again.',
  'admin.unblock_already': '<@{user}> was not blocked here.',
  'admin.budget_none':
    'This server has no budget: members are limited by their own allowance only. {used} units were used here in the last 24 h.',
  'admin.budget_view': 'Server budget: {budget} units per rolling 24 h. {used} used, {remaining} left.',
  'admin.budget_next': 'The next unit comes back {when}.',
  'admin.budget_hint': 'Set it with `/veo-admin budget units:`; `units: 0` removes it.',
  'admin.budget_set':
    '✅ Server budget set to {budget} units per rolling 24 h; {used} were already used in the last 24 h.',
  'admin.budget_cleared': '✅ Server budget removed.',
  'admin.status_title': '**Veo Bot status**',
  'admin.status_credits': 'kie.ai credits: {credits} (read {when})',
  'admin.status_credits_unknown': 'kie.ai credits: could not be read just now.',
  'admin.status_circuit_closed': 'Video service: accepting new videos.',
  'admin.status_circuit_credits': 'Video service: paused, out of credits (checked every minute).',
  'admin.status_circuit_maintenance': 'Video service: paused for maintenance (checked every minute).',
  'admin.status_paused': 'Video service: paused; new videos are refused until it is back.',
  'admin.status_spend':
    'kie credits the bot spent in the last 24 h, across all servers: {used} of its daily budget of {budget}.',
  'admin.status_spend_next':
    'kie credits the bot spent in the last 24 h, across all servers: {used} of its daily budget of {budget}; the oldest frees up {when}.',
  'admin.status_spend_unlimited':
    'kie credits the bot spent in the last 24 h, across all servers: {used} (no DAILY_CREDIT_BUDGET is set).',
  'admin.status_jobs': 'Videos in progress in this server: {running}',
  'admin.status_units': 'Units used in this server in the last 24 h: {used} ({running} held by running jobs)',
  'admin.forget_done': '🗑️ Deleted {deleted} job records of <@{user}> in this server, and their usage.',
  'admin.forget_kept': '{kept} videos still in progress were kept so they can finish; run this again once they have.',
  'admin.watermark_set': '✅ Watermark set: videos made on this server from now on carry “{text}”.',
  'admin.watermark_off': '✅ Watermark off: videos made on this server from now on carry none.',
  'admin.watermark_too_long': 'A watermark can be at most {max} characters; yours has {length}. Nothing was changed.',
  'admin.watermark_one_line': 'A watermark is one line of text, without line breaks. Nothing was changed.',
  'admin.filter_added': '✅ {added} added to this server’s filter; {count} of {max} entries in use.',
  'admin.filter_already': '{n} already on the list.',
  'admin.filter_removed': '✅ {removed} removed from the filter; {count} of {max} entries in use.',
  'admin.filter_missing': '{n} not on the list.',
  'admin.filter_no_words': 'Name the words or phrases in `words:`, separated by commas.',
  'admin.filter_too_long': 'Each entry may be at most {max} characters; “{entry}” has {length}. Nothing was changed.',
  'admin.filter_full':
    'The filter holds at most {max} entries; this would make {count}. Nothing was changed. Remove some with `/veo-admin filter remove`.',
  'admin.filter_list_title': '**Blocked words and phrases here ({count} of {max})**',
  'admin.filter_list_empty': 'This server’s filter is empty. Add to it with `/veo-admin filter add words:`.',
  'admin.filter_list_attached': 'The whole list is attached, one entry a line.',
  'admin.filter_hint':
    'A prompt that contains an entry as a whole word or phrase (in any case, with or without accents) is refused before anything is charged. In Chinese, Japanese or Thai, which do not put spaces between words, an entry matches anywhere.',
  'admin.log_channel_set':
    '✅ Every video made in this server will be mirrored to <#{channel}>: who asked, the model, the prompt (not for private videos) and a link, edited to the outcome.',
  'admin.log_channel_off': '✅ The log channel is off: videos are no longer mirrored.',
  'admin.log_channel_missing':
    'I cannot use <#{channel}> as the log channel: I am missing {permission} there. Grant it, or pick another channel. Nothing was changed.',
  'error.generic': 'Something went wrong on our side. Nothing was charged. Please try again.',
  'error.busy': 'The video service is busy right now. Nothing was charged. Try again in a minute.',
  'error.store_unavailable': 'The bot could not reach its storage in time. Nothing was charged. Try again in a moment.',
  'error.job_not_found': 'I no longer have a record of this video.',
} as const;

export type MessageKey = keyof typeof enUS;
