"""裂变 growth tools in the room: coupons (优惠券), 拼团 group buys, 福袋 lucky draws,
reminders for scheduled rooms."""
