"""Fields and query parameters of the Clio v4 list endpoints the emulator serves.

Written by scripts/gen_clio_fields.py from Clio's public v4 API description;
do not edit by hand. A nested resource lists its own fields; a resource nested
in it (second level) appears by name only: Clio answers 400 to a field list
for it (https://docs.developers.clio.com/api-docs/fields).
"""

RESOURCE_SCHEMAS = {
    'contacts': 'Contact',
    'matters': 'Matter',
    'users': 'User',
    'practice_areas': 'PracticeArea',
    'custom_fields': 'CustomField',
    'activities': 'Activity',
    'activity_rates': 'ActivityRate',
    'bills': 'Bill',
    'line_items': 'LineItem',
    'bank_accounts': 'BankAccount',
    'bank_transactions': 'BankTransaction',
    'allocations': 'Allocation',
    'trust_line_items': 'TrustLineItem',
    'credit_memos': 'CreditMemo',
    'billable_matters': 'BillableMatter',
    'documents': 'Document',
    'calendar_entries': 'CalendarEntry',
    'tasks': 'Task',
    'communications': 'Communication',
    'notes': 'Note',
    'task_template_lists': 'TaskTemplateList',
    'task_templates': 'TaskTemplate',
    'document_templates': 'DocumentTemplate',
    'matter_stages': 'MatterStage',
    'custom_actions': 'CustomAction',
    'webhooks': 'Webhook',
    'activity_descriptions': 'ActivityDescription',
}

RESOURCE_FIELDS = {
    'contacts': (
        'id,etag,name,first_name,middle_name,last_name,date_of_birth,type,created_at,updated_'
        'at,prefix,title,initials,clio_connect_email,locked_clio_connect_email,client_connect'
        '_user_id,primary_email_address,secondary_email_address,primary_phone_number,secondar'
        'y_phone_number,ledes_client_id,has_clio_for_clients_permission,is_client,is_clio_for'
        '_client_user,is_co_counsel,is_bill_recipient,sales_tax_number,currency,activity_rate'
        's{id,etag,rate,flat_rate,created_at,updated_at,contact_id,co_counsel_contact_id},add'
        'resses{id,etag,street,city,province,postal_code,country,name,created_at,updated_at,p'
        'rimary},custom_field_values{id,etag,field_name,created_at,updated_at,field_type,fiel'
        'd_required,field_displayed,field_display_order,value,soft_deleted,custom_field,pickl'
        'ist_option,matter,contact},custom_field_set_associations{id,etag,display_order,creat'
        'ed_at,updated_at},email_addresses{id,etag,address,name,primary,created_at,updated_at'
        '},instant_messengers{id,etag,address,name,created_at,updated_at},phone_numbers{id,et'
        'ag,number,name,primary,created_at,updated_at},web_sites{id,etag,address,name,default'
        '_web_site,created_at,updated_at},notification_methods{id,etag,type,email_address,is_'
        'default_email_address,created_at,updated_at},account_balances{id,balance,type,name,c'
        'urrency_id},related_contacts{id,etag,name,first_name,middle_name,last_name,date_of_b'
        'irth,type,created_at,updated_at,prefix,title,initials,clio_connect_email,locked_clio'
        '_connect_email,client_connect_user_id,primary_email_address,secondary_email_address,'
        'primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_for_clients_per'
        'mission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sales_tax_'
        'number,currency},primary_work_address{id,etag,street,city,province,postal_code,count'
        'ry,name,created_at,updated_at,primary},primary_address{id,etag,street,city,province,'
        'postal_code,country,name,created_at,updated_at,primary},secondary_address{id,etag,st'
        'reet,city,province,postal_code,country,name,created_at,updated_at,primary},company{i'
        'd,etag,name,first_name,middle_name,last_name,date_of_birth,type,created_at,updated_a'
        't,prefix,title,initials,clio_connect_email,locked_clio_connect_email,client_connect_'
        'user_id,primary_email_address,secondary_email_address,primary_phone_number,secondary'
        '_phone_number,ledes_client_id,has_clio_for_clients_permission,is_client,is_clio_for_'
        'client_user,is_co_counsel,is_bill_recipient,sales_tax_number,currency},avatar{id,eta'
        'g,created_at,updated_at,url,_destroy},payment_profile{id,etag,created_at,updated_at,'
        'billing_setting_id,name,terms,discount_rate,discount_period,interest_rate,interest_p'
        'eriod,interest_type},folder{id,etag,created_at,updated_at,deleted_at,type,locked,nam'
        'e,root},co_counsel_rate{id,etag,rate,flat_rate,created_at,updated_at,contact_id,co_c'
        'ounsel_contact_id},primary_web_site{id,etag,address,name,default_web_site,created_at'
        ',updated_at},legal_aid_uk_contact{id,disability,disability_code,ethnicity,ethnicity_'
        'title,financially_eligible,gender,gender_title,national_insurance_number}'
    ),
    'matters': (
        'id,etag,number,display_number,custom_number,currency,description,status,location,cli'
        'ent_reference,client_id,billable,maildrop_address,billing_method,open_date,close_dat'
        'e,pending_date,created_at,updated_at,shared,has_tasks,last_activity_date,matter_stag'
        'e_updated_at,client{id,etag,name,first_name,middle_name,last_name,date_of_birth,type'
        ',created_at,updated_at,prefix,title,initials,clio_connect_email,locked_clio_connect_'
        'email,client_connect_user_id,primary_email_address,secondary_email_address,primary_p'
        'hone_number,secondary_phone_number,ledes_client_id,has_clio_for_clients_permission,i'
        's_client,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sales_tax_number,cu'
        'rrency},contingency_fee{id,etag,created_at,updated_at,show_contingency_award},custom'
        '_rate{type,on_invoice,rates},evergreen_retainer{id,created_at,updated_at,etag,minimu'
        'm_threshold},folder{id,etag,created_at,updated_at,deleted_at,type,locked,name,root},'
        'group{client_connect_user,etag,id,name,type,updated_at},matter_budget{id,etag,budget'
        ',include_expenses,notification_threshold,notify_users,created_at,updated_at},matter_'
        'stage{id,etag,practice_area_id,name,order,created_at,updated_at},originating_attorne'
        'y{account_owner,clio_connect,court_rules_default_attendee,created_at,default_calenda'
        'r_id,email,enabled,etag,first_name,id,initials,last_name,name,phone_number,rate,role'
        's,subscription_type,time_zone,updated_at},practice_area{id,etag,created_at,updated_a'
        't,name,category,code},responsible_attorney{account_owner,clio_connect,court_rules_de'
        'fault_attendee,created_at,default_calendar_id,email,enabled,etag,first_name,id,initi'
        'als,last_name,name,phone_number,rate,roles,subscription_type,time_zone,updated_at},s'
        'tatute_of_limitations{id,etag,name,status,description,description_text_type,priority'
        ',due_at,permission,completed_at,notify_completion,statute_of_limitations,time_estima'
        'ted,created_at,updated_at,time_entries_count},user{account_owner,clio_connect,court_'
        'rules_default_attendee,created_at,default_calendar_id,email,enabled,etag,first_name,'
        'id,initials,last_name,name,phone_number,rate,roles,subscription_type,time_zone,updat'
        'ed_at},legal_aid_uk_matter{access_point,laa_office_number,ait_hearing_centre,attende'
        'd_several_hearings_acting_for_multiple_clients,bill_ho_ucn,bill_number_of_attendance'
        's,bill_outcome_for_the_client_code,bill_stage_reached_code,case_reference,case_start'
        '_date,category,category_as_string,certificate_effective_date,certificate_expiration_'
        'date,certificate_number,certificate_scope,certification_type,change_of_solicitor,cli'
        'ent_equal_opportunity_monitoring,client_type,clr_start_date,clr_total_profit_costs,c'
        'ost_limit,counsel,court,court_id,court_id_code,created_at,delivery_location,dscc_num'
        'ber,duty_solicitor,etag,exceptional_case_funding_reference,expense_limit,fee_scheme,'
        'first_conducting_solicitor,id,irc_surgery,legacy_case,legal_representation_number,lh'
        '_total_disbursements,lh_start_date,lh_total_profit_costs,linked_matter_id,local_auth'
        'ority_number,maat_id,matter_type,matter_type_code,matter_type_1,matter_type_1_code,m'
        'atter_type_1_title,matter_type_2,matter_type_2_code,matter_type_2_title,matter_types'
        '_combined,number_of_clients_seen_at_surgery,number_of_clients,party,police_station,p'
        'ost_transfer_clients_represented,postal_application_accepted,prior_authority_referen'
        'ce,prison_id,prison_law_prior_approval_number,procurement_area,region,related_claims'
        '_number,representation_order_date,schedule_reference_number,scheme_id,session_type,s'
        'olicitor_type,standard_fee_category,surgery_clients_resulting_in_a_legal_help_matter'
        '_opened,surgery_clients,surgery_date,transfer_date,type_of_advice,type_of_service,uc'
        'n,ufn,undesignated_area_court,updated_at,user_type,youth_court},account_balances{id,'
        'balance,type,name,currency_id},custom_field_values{id,etag,field_name,created_at,upd'
        'ated_at,field_type,field_required,field_displayed,field_display_order,value,soft_del'
        'eted,custom_field,picklist_option,matter,contact},custom_field_set_associations{id,e'
        'tag,display_order,created_at,updated_at},matter_bill_recipients{created_at,etag,id,u'
        'pdated_at,recipient},relationships{id,etag,description,created_at,updated_at},task_t'
        'emplate_list_instances{id,etag,created_at,updated_at},split_invoice_payers{id,contac'
        't_id,matter_id,send_to_bill_recipients,split_portion,etag,created_at,updated_at}'
    ),
    'users': (
        'account_owner,clio_connect,court_rules_default_attendee,created_at,default_calendar_'
        'id,email,enabled,etag,first_name,id,initials,last_name,name,phone_number,rate,roles,'
        'subscription_type,time_zone,updated_at,default_activity_description{id,etag,name,vis'
        'ible_to_co_counsel,created_at,updated_at,default,type,utbms_activity_id,utbms_task_n'
        'ame,utbms_task_id,xero_service_code,accessible_to_user,category_type,currency},notif'
        'ication_methods{id,etag,type,email_address,is_default_email_address,created_at,updat'
        'ed_at},account{id,etag,name,state,created_at,updated_at},avatar{id,etag,created_at,u'
        'pdated_at,url,_destroy},contact{id,etag,name,first_name,middle_name,last_name,date_o'
        'f_birth,type,created_at,updated_at,prefix,title,initials,clio_connect_email,locked_c'
        'lio_connect_email,client_connect_user_id,primary_email_address,secondary_email_addre'
        'ss,primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_for_clients_'
        'permission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sales_t'
        'ax_number,currency},job_title{id,etag,name,initials},groups{client_connect_user,etag'
        ',id,name,type,updated_at}'
    ),
    'practice_areas': (
        'id,etag,created_at,updated_at,name,category,code'
    ),
    'custom_fields': (
        'id,etag,created_at,updated_at,name,parent_type,field_type,displayed,deleted,required'
        ',display_order,picklist_options{id,etag,created_at,updated_at,option,deleted_at}'
    ),
    'activities': (
        'id,etag,type,date,quantity_in_hours,rounded_quantity_in_hours,quantity,rounded_quant'
        'ity,quantity_redacted,price,note,flat_rate,billed,on_bill,total,contingency_fee,crea'
        'ted_at,updated_at,reference,non_billable,non_billable_total,no_charge,tax_setting,cu'
        'rrency{id,etag,code,sign,created_at,updated_at},activity_description{id,etag,name,vi'
        'sible_to_co_counsel,created_at,updated_at,default,type,utbms_activity_id,utbms_task_'
        'name,utbms_task_id,xero_service_code,accessible_to_user,category_type,currency},expe'
        'nse_category{id,etag,name,rate,entry_type,created_at,updated_at,xero_expense_code,ac'
        'cessible_to_user,tax_setting,currency},bill{id,etag,number,issued_at,created_at,due_'
        'at,tax_rate,secondary_tax_rate,updated_at,subject,purchase_order,type,memo,start_at,'
        'end_at,balance,state,kind,total,paid,paid_at,pending,due,discount_services_only,can_'
        'update,credits_issued,shared,last_sent_at,services_secondary_tax,services_sub_total,'
        'services_tax,services_taxable_sub_total,services_secondary_taxable_sub_total,taxable'
        '_sub_total,secondary_taxable_sub_total,sub_total,tax_sum,secondary_tax_sum,total_tax'
        ',available_state_transitions},communication{id,etag,subject,body,type,date,time_entr'
        'ies_count,created_at,updated_at,received_at},client_portal{id,etag,created_at,update'
        'd_at,unread_count,unread_notifiable_count},matter{id,etag,number,display_number,cust'
        'om_number,currency,description,status,location,client_reference,client_id,billable,m'
        'aildrop_address,billing_method,open_date,close_date,pending_date,created_at,updated_'
        'at,shared,has_tasks,last_activity_date,matter_stage_updated_at},matter_note{id,etag,'
        'type,subject,detail,detail_text_type,date,created_at,updated_at,time_entries_count},'
        'contact_note{id,etag,type,subject,detail,detail_text_type,date,created_at,updated_at'
        ',time_entries_count},subject{id,type,identifier,secondary_identifier,tertiary_identi'
        'fier},timer{id,etag,start_time,elapsed_time,created_at,updated_at},user{account_owne'
        'r,clio_connect,court_rules_default_attendee,created_at,default_calendar_id,email,ena'
        'bled,etag,first_name,id,initials,last_name,name,phone_number,rate,roles,subscription'
        '_type,time_zone,updated_at},utbms_expense{id,etag,name,code,description,type,utbms_s'
        'et_id,created_at,updated_at},vendor{id,etag,name,first_name,middle_name,last_name,da'
        'te_of_birth,type,created_at,updated_at,prefix,title,initials,clio_connect_email,lock'
        'ed_clio_connect_email,client_connect_user_id,primary_email_address,secondary_email_a'
        'ddress,primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_for_clie'
        'nts_permission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sal'
        'es_tax_number,currency},calendar_entry{id,etag,calendar_owner_id},task{id,etag},text'
        '_message_conversation{id,etag},document_version{id,document_id,etag,uuid,created_at,'
        'updated_at,filename,size,version_number,content_type,received_at,put_url,fully_uploa'
        'ded},legal_aid_uk_activity{activity_sub_category,advocacy,base_rate,bolt_ons,bolt_on'
        's_summary,court,eligible_for_sqm,expert,form_of_civil_legal_service,id,is_custom_rat'
        'e,json_key,region,tax_exclusive,uplift,user_type}'
    ),
    'activity_rates': (
        'id,etag,rate,flat_rate,created_at,updated_at,contact_id,co_counsel_contact_id,user{a'
        'ccount_owner,clio_connect,court_rules_default_attendee,created_at,default_calendar_i'
        'd,email,enabled,etag,first_name,id,initials,last_name,name,phone_number,rate,roles,s'
        'ubscription_type,time_zone,updated_at},group{client_connect_user,etag,id,name,type,u'
        'pdated_at}'
    ),
    'bills': (
        'id,etag,number,issued_at,created_at,due_at,tax_rate,secondary_tax_rate,updated_at,su'
        'bject,purchase_order,type,memo,start_at,end_at,balance,state,kind,total,paid,paid_at'
        ',pending,due,discount_services_only,can_update,credits_issued,shared,last_sent_at,se'
        'rvices_secondary_tax,services_sub_total,services_tax,services_taxable_sub_total,serv'
        'ices_secondary_taxable_sub_total,taxable_sub_total,secondary_taxable_sub_total,sub_t'
        'otal,tax_sum,secondary_tax_sum,total_tax,available_state_transitions,user{account_ow'
        'ner,clio_connect,court_rules_default_attendee,created_at,default_calendar_id,email,e'
        'nabled,etag,first_name,id,initials,last_name,name,phone_number,rate,roles,subscripti'
        'on_type,time_zone,updated_at},client{id,etag,name,first_name,middle_name,last_name,d'
        'ate_of_birth,type,created_at,updated_at,prefix,title,initials,clio_connect_email,loc'
        'ked_clio_connect_email,client_connect_user_id,primary_email_address,secondary_email_'
        'address,primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_for_cli'
        'ents_permission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sa'
        'les_tax_number,currency},discount{rate,type,note,early_payment_rate,early_payment_pe'
        'riod},interest{balance,period,rate,total,type},matters{id,etag,number,display_number'
        ',custom_number,currency,description,status,location,client_reference,client_id,billa'
        'ble,maildrop_address,billing_method,open_date,close_date,pending_date,created_at,upd'
        'ated_at,shared,has_tasks,last_activity_date,matter_stage_updated_at},group{client_co'
        'nnect_user,etag,id,name,type,updated_at},bill_theme{id,etag,created_at,updated_at,ac'
        'count_id,default,name,config},original_bill{id,etag,number,issued_at,created_at,due_'
        'at,tax_rate,secondary_tax_rate,updated_at,subject,purchase_order,type,memo,start_at,'
        'end_at,balance,state,kind,total,paid,paid_at,pending,due,discount_services_only,can_'
        'update,credits_issued,shared,last_sent_at,services_secondary_tax,services_sub_total,'
        'services_tax,services_taxable_sub_total,services_secondary_taxable_sub_total,taxable'
        '_sub_total,secondary_taxable_sub_total,sub_total,tax_sum,secondary_tax_sum,total_tax'
        ',available_state_transitions},destination_account{account_number,balance,bank_transa'
        'ctions_count,clio_payment_page_link,clio_payment_page_qr_code,clio_payments_enabled,'
        'controlled_account,created_at,currency,currency_symbol,currency_id,default_account,d'
        'omicile_branch,etag,general_ledger_number,holder,id,institution,name,swift,transit_n'
        'umber,type,updated_at},balances{id,amount,type,interest_amount,due},matter_totals{id'
        ',amount},currency{id,etag,code,sign,created_at,updated_at},billing_setting{id,etag,r'
        'ounded_duration,rounding,use_decimal_rounding,currency,currency_sign,tax_rate,tax_na'
        'me,apply_tax_by_default,time_on_flat_rate_contingency_matters_is_non_billable,use_se'
        'condary_tax,secondary_tax_rate,secondary_tax_rule,secondary_tax_name,notify_after_bi'
        'll_created,use_utbms_codes,created_at,updated_at},client_addresses{id,etag,street,ci'
        'ty,province,postal_code,country,name,created_at,updated_at,primary},legal_aid_uk_bil'
        'l{additional_travel_payment,adjourned_hearing_fee,advocacy_costs,advice_time,bill_ty'
        'pe,case_concluded,case_stage_level,cla_exemption_code,cla_reference,cmrh_oral,cmrh_t'
        'elephone,cost_of_counsel,costs_are_those_of,court_location,date_of_claim,designated_'
        'accredited_representative,detention_travel_and_waiting_costs,disbursements_vat,excep'
        'tional_case_funding_reference,exemption_criteria_satisfied,follow_on_work,ho_intervi'
        'ew,ho_ucn,id,independent_medical_reports_claimed,jr_form_filling,maat_id,meetings_at'
        'tended,mht_ref_no,net_disbursements,net_profit_costs,niat_disbursement_prior_authori'
        'ty_number,number_of_attendances,outcome_for_the_client,profit_costs_ex_vat,prior_aut'
        'hority_reference,representation_order_date,stage_reached,substantive_hearing,travel_'
        'and_waiting_costs,travel_time,value_of_costs,waiting_time},split_invoice{id,bill_id,'
        'linked_invoices_display_numbers,linked_invoices_ids,split_connection_id,split_portio'
        'n,etag,created_at,updated_at}'
    ),
    'line_items': (
        'id,etag,type,description,date,price,taxable,kind,note,secondary_taxable,total,tax,se'
        'condary_tax,sub_total,quantity,group_ordering,created_at,updated_at,bill{id,etag,num'
        'ber,issued_at,created_at,due_at,tax_rate,secondary_tax_rate,updated_at,subject,purch'
        'ase_order,type,memo,start_at,end_at,balance,state,kind,total,paid,paid_at,pending,du'
        'e,discount_services_only,can_update,credits_issued,shared,last_sent_at,services_seco'
        'ndary_tax,services_sub_total,services_tax,services_taxable_sub_total,services_second'
        'ary_taxable_sub_total,taxable_sub_total,secondary_taxable_sub_total,sub_total,tax_su'
        'm,secondary_tax_sum,total_tax,available_state_transitions},activity{id,etag,type,dat'
        'e,quantity_in_hours,rounded_quantity_in_hours,quantity,rounded_quantity,quantity_red'
        'acted,price,note,flat_rate,billed,on_bill,total,contingency_fee,created_at,updated_a'
        't,reference,non_billable,non_billable_total,no_charge,tax_setting,currency},matter{i'
        'd,etag,number,display_number,custom_number,currency,description,status,location,clie'
        'nt_reference,client_id,billable,maildrop_address,billing_method,open_date,close_date'
        ',pending_date,created_at,updated_at,shared,has_tasks,last_activity_date,matter_stage'
        '_updated_at},user{account_owner,clio_connect,court_rules_default_attendee,created_at'
        ',default_calendar_id,email,enabled,etag,first_name,id,initials,last_name,name,phone_'
        'number,rate,roles,subscription_type,time_zone,updated_at},discount{rate,type,note,ea'
        'rly_payment_rate,early_payment_period},included_line_item_totals{quantity,price,disc'
        'ount_percent,total,sub_total}'
    ),
    'bank_accounts': (
        'account_number,balance,bank_transactions_count,clio_payment_page_link,clio_payment_p'
        'age_qr_code,clio_payments_enabled,controlled_account,created_at,currency,currency_sy'
        'mbol,currency_id,default_account,domicile_branch,etag,general_ledger_number,holder,i'
        'd,institution,name,swift,transit_number,type,updated_at,user{account_owner,clio_conn'
        'ect,court_rules_default_attendee,created_at,default_calendar_id,email,enabled,etag,f'
        'irst_name,id,initials,last_name,name,phone_number,rate,roles,subscription_type,time_'
        'zone,updated_at}'
    ),
    'bank_transactions': (
        'id,type,etag,created_at,updated_at,bank_account_id,source,confirmation,date,amount,c'
        'urrency,currency_id,description,exchange_rate,transaction_type,funds_in,funds_out,cl'
        'io_payments_transaction,current_account_balance,read_only_confirmation,client{id,eta'
        'g,name,first_name,middle_name,last_name,date_of_birth,type,created_at,updated_at,pre'
        'fix,title,initials,clio_connect_email,locked_clio_connect_email,client_connect_user_'
        'id,primary_email_address,secondary_email_address,primary_phone_number,secondary_phon'
        'e_number,ledes_client_id,has_clio_for_clients_permission,is_client,is_clio_for_clien'
        't_user,is_co_counsel,is_bill_recipient,sales_tax_number,currency},matter{id,etag,num'
        'ber,display_number,custom_number,currency,description,status,location,client_referen'
        'ce,client_id,billable,maildrop_address,billing_method,open_date,close_date,pending_d'
        'ate,created_at,updated_at,shared,has_tasks,last_activity_date,matter_stage_updated_a'
        't},bank_account{account_number,balance,bank_transactions_count,clio_payment_page_lin'
        'k,clio_payment_page_qr_code,clio_payments_enabled,controlled_account,created_at,curr'
        'ency,currency_symbol,currency_id,default_account,domicile_branch,etag,general_ledger'
        '_number,holder,id,institution,name,swift,transit_number,type,updated_at},bill{id,eta'
        'g,number,issued_at,created_at,due_at,tax_rate,secondary_tax_rate,updated_at,subject,'
        'purchase_order,type,memo,start_at,end_at,balance,state,kind,total,paid,paid_at,pendi'
        'ng,due,discount_services_only,can_update,credits_issued,shared,last_sent_at,services'
        '_secondary_tax,services_sub_total,services_tax,services_taxable_sub_total,services_s'
        'econdary_taxable_sub_total,taxable_sub_total,secondary_taxable_sub_total,sub_total,t'
        'ax_sum,secondary_tax_sum,total_tax,available_state_transitions},allocation{id,etag,d'
        'ate,amount,interest,voided_at,created_at,updated_at,description,has_online_payment,d'
        'estroyable,payment_type}'
    ),
    'allocations': (
        'id,etag,date,amount,interest,voided_at,created_at,updated_at,description,has_online_'
        'payment,destroyable,payment_type,bill{id,etag,number,issued_at,created_at,due_at,tax'
        '_rate,secondary_tax_rate,updated_at,subject,purchase_order,type,memo,start_at,end_at'
        ',balance,state,kind,total,paid,paid_at,pending,due,discount_services_only,can_update'
        ',credits_issued,shared,last_sent_at,services_secondary_tax,services_sub_total,servic'
        'es_tax,services_taxable_sub_total,services_secondary_taxable_sub_total,taxable_sub_t'
        'otal,secondary_taxable_sub_total,sub_total,tax_sum,secondary_tax_sum,total_tax,avail'
        'able_state_transitions},source_bank_account{account_number,balance,bank_transactions'
        '_count,clio_payment_page_link,clio_payment_page_qr_code,clio_payments_enabled,contro'
        'lled_account,created_at,currency,currency_symbol,currency_id,default_account,domicil'
        'e_branch,etag,general_ledger_number,holder,id,institution,name,swift,transit_number,'
        'type,updated_at},destination_bank_account{account_number,balance,bank_transactions_c'
        'ount,clio_payment_page_link,clio_payment_page_qr_code,clio_payments_enabled,controll'
        'ed_account,created_at,currency,currency_symbol,currency_id,default_account,domicile_'
        'branch,etag,general_ledger_number,holder,id,institution,name,swift,transit_number,ty'
        'pe,updated_at},matter{id,etag,number,display_number,custom_number,currency,descripti'
        'on,status,location,client_reference,client_id,billable,maildrop_address,billing_meth'
        'od,open_date,close_date,pending_date,created_at,updated_at,shared,has_tasks,last_act'
        'ivity_date,matter_stage_updated_at},contact{id,etag,name,first_name,middle_name,last'
        '_name,date_of_birth,type,created_at,updated_at,prefix,title,initials,clio_connect_em'
        'ail,locked_clio_connect_email,client_connect_user_id,primary_email_address,secondary'
        '_email_address,primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_'
        'for_clients_permission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recip'
        'ient,sales_tax_number,currency},parent{id,type,identifier,secondary_identifier,terti'
        'ary_identifier}'
    ),
    'trust_line_items': (
        'id,etag,date,total,note,created_at,updated_at,bill{id,etag,number,issued_at,created_'
        'at,due_at,tax_rate,secondary_tax_rate,updated_at,subject,purchase_order,type,memo,st'
        'art_at,end_at,balance,state,kind,total,paid,paid_at,pending,due,discount_services_on'
        'ly,can_update,credits_issued,shared,last_sent_at,services_secondary_tax,services_sub'
        '_total,services_tax,services_taxable_sub_total,services_secondary_taxable_sub_total,'
        'taxable_sub_total,secondary_taxable_sub_total,sub_total,tax_sum,secondary_tax_sum,to'
        'tal_tax,available_state_transitions},matter{id,etag,number,display_number,custom_num'
        'ber,currency,description,status,location,client_reference,client_id,billable,maildro'
        'p_address,billing_method,open_date,close_date,pending_date,created_at,updated_at,sha'
        'red,has_tasks,last_activity_date,matter_stage_updated_at},client{id,etag,name,first_'
        'name,middle_name,last_name,date_of_birth,type,created_at,updated_at,prefix,title,ini'
        'tials,clio_connect_email,locked_clio_connect_email,client_connect_user_id,primary_em'
        'ail_address,secondary_email_address,primary_phone_number,secondary_phone_number,lede'
        's_client_id,has_clio_for_clients_permission,is_client,is_clio_for_client_user,is_co_'
        'counsel,is_bill_recipient,sales_tax_number,currency}'
    ),
    'credit_memos': (
        'id,etag,date,amount,description,discount,voided_at,created_at,updated_at,user{accoun'
        't_owner,clio_connect,court_rules_default_attendee,created_at,default_calendar_id,ema'
        'il,enabled,etag,first_name,id,initials,last_name,name,phone_number,rate,roles,subscr'
        'iption_type,time_zone,updated_at},contact{id,etag,name,first_name,middle_name,last_n'
        'ame,date_of_birth,type,created_at,updated_at,prefix,title,initials,clio_connect_emai'
        'l,locked_clio_connect_email,client_connect_user_id,primary_email_address,secondary_e'
        'mail_address,primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_fo'
        'r_clients_permission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recipie'
        'nt,sales_tax_number,currency},allocations{id,etag,date,amount,interest,voided_at,cre'
        'ated_at,updated_at,description,has_online_payment,destroyable,payment_type}'
    ),
    'billable_matters': (
        'currency_code,currency_id,id,unbilled_hours,unbilled_amount,amount_in_trust,display_'
        'number,client{id,etag,name,first_name,middle_name,last_name,date_of_birth,type,creat'
        'ed_at,updated_at,prefix,title,initials,clio_connect_email,locked_clio_connect_email,'
        'client_connect_user_id,primary_email_address,secondary_email_address,primary_phone_n'
        'umber,secondary_phone_number,ledes_client_id,has_clio_for_clients_permission,is_clie'
        'nt,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sales_tax_number,currency'
        '}'
    ),
    'documents': (
        'id,etag,created_at,updated_at,deleted_at,type,locked,name,received_at,filename,size,'
        'content_type,parent{id,etag,created_at,updated_at,deleted_at,type,locked,name,root},'
        'matter{id,etag,number,display_number,custom_number,currency,description,status,locat'
        'ion,client_reference,client_id,billable,maildrop_address,billing_method,open_date,cl'
        'ose_date,pending_date,created_at,updated_at,shared,has_tasks,last_activity_date,matt'
        'er_stage_updated_at},contact{id,etag,name,first_name,middle_name,last_name,date_of_b'
        'irth,type,created_at,updated_at,prefix,title,initials,clio_connect_email,locked_clio'
        '_connect_email,client_connect_user_id,primary_email_address,secondary_email_address,'
        'primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_for_clients_per'
        'mission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sales_tax_'
        'number,currency},document_category{id,etag,name,created_at,updated_at},creator{accou'
        'nt_owner,clio_connect,court_rules_default_attendee,default_calendar_id,email,enabled'
        ',etag,id,type,initials,first_name,last_name,name,phone_number,rate,subscription_type'
        ',time_zone,roles,created_at,updated_at},latest_document_version{id,document_id,etag,'
        'uuid,created_at,updated_at,filename,size,version_number,content_type,received_at,put'
        '_url,fully_uploaded,creator,put_headers,multiparts},group{client_connect_user,etag,i'
        'd,name,type,updated_at},external_properties{id,etag,name,value,created_at,updated_at'
        '},document_versions{id,document_id,etag,uuid,created_at,updated_at,filename,size,ver'
        'sion_number,content_type,received_at,put_url,fully_uploaded}'
    ),
    'calendar_entries': (
        'id,etag,summary,description,location,start_at,end_at,all_day,recurrence_rule,parent_'
        'calendar_entry_id,court_rule,created_at,updated_at,permission,calendar_owner_id,star'
        't_at_time_zone,time_entries_count,time_entries{id,etag,type,date,quantity_in_hours,r'
        'ounded_quantity_in_hours,quantity,rounded_quantity,quantity_redacted,price,note,flat'
        '_rate,billed,on_bill,total,contingency_fee,created_at,updated_at,reference,non_billa'
        'ble,non_billable_total,no_charge,tax_setting,currency},conference_meeting{conference'
        '_id,conference_password,created_at,etag,id,join_url,type,source_id,updated_at},matte'
        'r{id,etag,number,display_number,custom_number,currency,description,status,location,c'
        'lient_reference,client_id,billable,maildrop_address,billing_method,open_date,close_d'
        'ate,pending_date,created_at,updated_at,shared,has_tasks,last_activity_date,matter_st'
        'age_updated_at},matter_docket{id,etag,name,start_date,start_time,status,created_at,u'
        'pdated_at,deleted_at},calendar_owner{id,etag,color,light_color,court_rules_default_c'
        'alendar,name,permission,type,visible,created_at,updated_at,source},parent_calendar_e'
        'ntry{id,etag,summary,description,location,start_at,end_at,all_day,recurrence_rule,pa'
        'rent_calendar_entry_id,court_rule,created_at,updated_at,permission,calendar_owner_id'
        ',start_at_time_zone,time_entries_count},calendar_entry_event_type{id,etag,created_at'
        ',updated_at,color,name},attendees{id,etag,type,name,enabled,email,created_at,updated'
        '_at},calendars{id,etag,color,light_color,court_rules_default_calendar,name,permissio'
        'n,type,visible,created_at,updated_at,source},reminders{id,etag,duration,next_deliver'
        'y_at,state,created_at,updated_at},external_properties{id,etag,name,value,created_at,'
        'updated_at}'
    ),
    'tasks': (
        'id,etag,name,status,description,description_text_type,priority,due_at,permission,com'
        'pleted_at,notify_completion,statute_of_limitations,time_estimated,created_at,updated'
        '_at,time_entries_count,time_entries{id,etag,type,date,quantity_in_hours,rounded_quan'
        'tity_in_hours,quantity,rounded_quantity,quantity_redacted,price,note,flat_rate,bille'
        'd,on_bill,total,contingency_fee,created_at,updated_at,reference,non_billable,non_bil'
        'lable_total,no_charge,tax_setting,currency},task_type{id,etag,name,deleted_at,create'
        'd_at,updated_at},assigner{account_owner,clio_connect,court_rules_default_attendee,cr'
        'eated_at,default_calendar_id,email,enabled,etag,first_name,id,initials,last_name,nam'
        'e,phone_number,rate,roles,subscription_type,time_zone,updated_at},matter{id,etag,num'
        'ber,display_number,custom_number,currency,description,status,location,client_referen'
        'ce,client_id,billable,maildrop_address,billing_method,open_date,close_date,pending_d'
        'ate,created_at,updated_at,shared,has_tasks,last_activity_date,matter_stage_updated_a'
        't},assignee{id,etag,created_at,updated_at,type,identifier,secondary_identifier,enabl'
        'ed,name,initials,job_title_name,avatar},reminders{id,etag,duration,next_delivery_at,'
        'state,created_at,updated_at}'
    ),
    'communications': (
        'id,etag,subject,body,type,date,time_entries_count,created_at,updated_at,received_at,'
        'user{account_owner,clio_connect,court_rules_default_attendee,created_at,default_cale'
        'ndar_id,email,enabled,etag,first_name,id,initials,last_name,name,phone_number,rate,r'
        'oles,subscription_type,time_zone,updated_at},matter{id,etag,number,display_number,cu'
        'stom_number,currency,description,status,location,client_reference,client_id,billable'
        ',maildrop_address,billing_method,open_date,close_date,pending_date,created_at,update'
        'd_at,shared,has_tasks,last_activity_date,matter_stage_updated_at},communication_eml_'
        'file{id},senders{id,etag,created_at,updated_at,type,identifier,secondary_identifier,'
        'enabled,name,initials,job_title_name,avatar},receivers{id,etag,created_at,updated_at'
        ',type,identifier,secondary_identifier,enabled,name,initials,job_title_name,avatar},e'
        'xternal_properties{id,etag,name,value,created_at,updated_at},time_entries{id,etag,ty'
        'pe,date,quantity_in_hours,rounded_quantity_in_hours,quantity,rounded_quantity,quanti'
        'ty_redacted,price,note,flat_rate,billed,on_bill,total,contingency_fee,created_at,upd'
        'ated_at,reference,non_billable,non_billable_total,no_charge,tax_setting,currency},do'
        'cuments{id,etag,created_at,updated_at,deleted_at,type,locked,name,received_at,filena'
        'me,size,content_type},notification_event_subscribers{id,etag,user_id,name,created_at'
        ',updated_at}'
    ),
    'notes': (
        'id,etag,type,subject,detail,detail_text_type,date,created_at,updated_at,time_entries'
        '_count,matter{id,etag,number,display_number,custom_number,currency,description,statu'
        's,location,client_reference,client_id,billable,maildrop_address,billing_method,open_'
        'date,close_date,pending_date,created_at,updated_at,shared,has_tasks,last_activity_da'
        'te,matter_stage_updated_at},contact{id,etag,name,first_name,middle_name,last_name,da'
        'te_of_birth,type,created_at,updated_at,prefix,title,initials,clio_connect_email,lock'
        'ed_clio_connect_email,client_connect_user_id,primary_email_address,secondary_email_a'
        'ddress,primary_phone_number,secondary_phone_number,ledes_client_id,has_clio_for_clie'
        'nts_permission,is_client,is_clio_for_client_user,is_co_counsel,is_bill_recipient,sal'
        'es_tax_number,currency},author{account_owner,clio_connect,court_rules_default_attend'
        'ee,created_at,default_calendar_id,email,enabled,etag,first_name,id,initials,last_nam'
        'e,name,phone_number,rate,roles,subscription_type,time_zone,updated_at},time_entries{'
        'id,etag,type,date,quantity_in_hours,rounded_quantity_in_hours,quantity,rounded_quant'
        'ity,quantity_redacted,price,note,flat_rate,billed,on_bill,total,contingency_fee,crea'
        'ted_at,updated_at,reference,non_billable,non_billable_total,no_charge,tax_setting,cu'
        'rrency},notification_event_subscribers{id,etag,user_id,name,created_at,updated_at}'
    ),
    'task_template_lists': (
        'created_at,description,id,etag,name,templates_count,updated_at,practice_area{id,etag'
        ',created_at,updated_at,name,category,code},creator{account_owner,clio_connect,court_'
        'rules_default_attendee,created_at,default_calendar_id,email,enabled,etag,first_name,'
        'id,initials,last_name,name,phone_number,rate,roles,subscription_type,time_zone,updat'
        'ed_at}'
    ),
    'task_templates': (
        'id,etag,name,description,priority,private,created_at,updated_at,cascading_source{id,'
        'name},assignee{account_owner,clio_connect,court_rules_default_attendee,created_at,de'
        'fault_calendar_id,email,enabled,etag,first_name,id,initials,last_name,name,phone_num'
        'ber,rate,roles,subscription_type,time_zone,updated_at},task_template_list{created_at'
        ',description,id,etag,name,templates_count,updated_at},task_type{id,etag,name,deleted'
        '_at,created_at,updated_at},template_creator{account_owner,clio_connect,court_rules_d'
        'efault_attendee,created_at,default_calendar_id,email,enabled,etag,first_name,id,init'
        'ials,last_name,name,phone_number,rate,roles,subscription_type,time_zone,updated_at},'
        'reminder_templates{id,etag,duration,notification_type,created_at,updated_at}'
    ),
    'document_templates': (
        'id,etag,size,content_type,filename,created_at,updated_at,document_category{id,etag,n'
        'ame,created_at,updated_at},last_modified_by{account_owner,clio_connect,court_rules_d'
        'efault_attendee,created_at,default_calendar_id,email,enabled,etag,first_name,id,init'
        'ials,last_name,name,phone_number,rate,roles,subscription_type,time_zone,updated_at}'
    ),
    'matter_stages': (
        'id,etag,practice_area_id,name,order,created_at,updated_at'
    ),
    'custom_actions': (
        'id,etag,created_at,updated_at,label,target_url,ui_reference'
    ),
    'webhooks': (
        'id,etag,url,fields,shared_secret,model,status,events,expires_at,created_at,updated_a'
        't,user{account_owner,clio_connect,court_rules_default_attendee,created_at,default_ca'
        'lendar_id,email,enabled,etag,first_name,id,initials,last_name,name,phone_number,rate'
        ',roles,subscription_type,time_zone,updated_at}'
    ),
    'activity_descriptions': (
        'id,etag,name,visible_to_co_counsel,created_at,updated_at,default,type,utbms_activity'
        '_id,utbms_task_name,utbms_task_id,xero_service_code,accessible_to_user,category_type'
        ',currency,groups{client_connect_user,etag,id,name,type,updated_at},rate{amount,non_b'
        'illable_amount,type,hierarchy},utbms_task{id,etag,name,code,description,type,utbms_s'
        'et_id,created_at,updated_at},utbms_activity{id,etag,name,code,description,type,utbms'
        '_set_id,created_at,updated_at}'
    ),
}

RESOURCE_PARAMS = {
    'contacts': ('client_only', 'clio_connect_only', 'created_since', 'custom_field_ids[]', 'custom_field_values', 'email_only', 'exclude_ids[]', 'fields', 'ids[]', 'initial', 'limit', 'order', 'page_token', 'query', 'shared_resource_id', 'type', 'updated_since'),
    'matters': ('billable', 'client_id', 'close_date[]', 'created_since', 'custom_field_ids[]', 'custom_field_values', 'fields', 'grant_id', 'group_id', 'ids[]', 'limit', 'notification_event_subscriber_user_id', 'open_date[]', 'order', 'originating_attorney_id', 'page_token', 'pending_date[]', 'practice_area_id', 'query', 'responsible_attorney_id', 'responsible_staff_id', 'status', 'subscriber_user_id', 'updated_since'),
    'users': ('created_since', 'enabled', 'fields', 'ids[]', 'include_co_counsel', 'limit', 'name', 'order', 'page_token', 'pending_setup', 'role', 'subscription_type', 'updated_since'),
    'practice_areas': ('code', 'created_since', 'fields', 'ids[]', 'limit', 'matter_id', 'name', 'order', 'page_token', 'updated_since'),
    'custom_fields': ('created_since', 'deleted', 'field_type', 'fields', 'ids[]', 'limit', 'order', 'page_token', 'parent_type', 'query', 'updated_since', 'visible_and_required'),
    'activities': ('activity_description_id', 'calendar_entry_id', 'communication_id', 'contact_note_id', 'created_since', 'end_date', 'expense_category_id', 'fields', 'flat_rate', 'grant_id', 'ids[]', 'limit', 'matter_id', 'matter_note_id', 'only_unaccounted_for', 'order', 'page_token', 'query', 'start_date', 'status', 'task_id', 'type', 'updated_since', 'user_id'),
    'activity_rates': ('co_counsel_contact_id', 'contact_id', 'created_since', 'fields', 'ids[]', 'limit', 'page_token', 'updated_since'),
    'bills': ('client_id', 'created_since', 'currency_id', 'custom_field_values', 'due_after', 'due_at', 'due_before', 'fields', 'ids[]', 'issued_after', 'issued_before', 'last_sent_end_date', 'last_sent_start_date', 'limit', 'matter_id', 'order', 'originating_attorney_id', 'overdue_only', 'page_token', 'query', 'responsible_attorney_id', 'state', 'status', 'type', 'updated_since'),
    'line_items': ('activity_id', 'bill_id', 'created_since', 'display', 'exclude_ids[]', 'fields', 'group_ordering', 'ids[]', 'kind', 'limit', 'matter_id', 'page_token', 'query', 'updated_since'),
    'bank_accounts': ('created_since', 'fields', 'ids[]', 'limit', 'order', 'page_token', 'show_empty_accounts', 'type', 'updated_since', 'user_id'),
    'bank_transactions': ('bank_account_id', 'client_id', 'created_since', 'fields', 'ids[]', 'limit', 'matter_id', 'order', 'page_token', 'type', 'updated_since'),
    'allocations': ('bill_id', 'contact_id', 'created_since', 'fields', 'ids[]', 'limit', 'matter_id', 'order', 'page_token', 'parent_id', 'parent_type', 'status', 'updated_since'),
    'trust_line_items': ('bill_id', 'created_since', 'fields', 'ids[]', 'limit', 'matter_id', 'order', 'page_token', 'updated_since'),
    'credit_memos': ('contact_id', 'created_since', 'fields', 'ids[]', 'limit', 'order', 'page_token', 'updated_since'),
    'billable_matters': ('client_id', 'custom_field_values', 'end_date', 'fields', 'limit', 'matter_id', 'originating_attorney_id', 'page_token', 'query', 'responsible_attorney_id', 'start_date'),
    'documents': ('contact_id', 'created_since', 'document_category_id', 'external_property_name', 'external_property_value', 'fields', 'ids[]', 'include_deleted', 'limit', 'matter_id', 'order', 'page_token', 'parent_id', 'query', 'scope', 'show_uncompleted', 'updated_since'),
    'calendar_entries': ('calendar_id', 'created_since', 'expanded', 'external_property_name', 'external_property_value', 'fields', 'from', 'has_court_rule', 'ids[]', 'is_all_day', 'limit', 'matter_id', 'owner_entries_across_all_users', 'page_token', 'query', 'source', 'to', 'updated_since', 'visible'),
    'tasks': ('assignee_id', 'assignee_type', 'assigner_id', 'cascading_source_id', 'client_id', 'complete', 'created_since', 'due_at_from', 'due_at_present', 'due_at_to', 'fields', 'ids[]', 'limit', 'matter_id', 'order', 'page_token', 'permission', 'priority', 'query', 'responsible_attorney_id', 'status', 'statuses[]', 'statute_of_limitations', 'task_type_id', 'time_entries_present', 'updated_since'),
    'communications': ('contact_id', 'created_since', 'date', 'external_property_name', 'external_property_value', 'fields', 'having_time_entries', 'ids[]', 'limit', 'matter_id', 'order', 'page_token', 'query', 'received_at', 'received_before', 'received_since', 'type', 'updated_since', 'user_id'),
    'notes': ('contact_id', 'created_since', 'fields', 'has_time_entries', 'ids[]', 'limit', 'matter_id', 'order', 'page_token', 'query', 'type', 'updated_since'),
    'task_template_lists': ('created_since', 'empty', 'fields', 'ids[]', 'limit', 'order', 'page_token', 'practice_area_id', 'query', 'updated_since'),
    'task_templates': ('created_since', 'fields', 'ids[]', 'limit', 'order', 'page_token', 'priority', 'query', 'task_template_list_id', 'updated_since'),
    'document_templates': ('created_since', 'fields', 'ids[]', 'limit', 'order', 'page_token', 'updated_since'),
    'matter_stages': ('created_since', 'fields', 'ids[]', 'limit', 'page_token', 'practice_area_id', 'updated_since'),
    'custom_actions': ('created_since', 'fields', 'ids[]', 'limit', 'page_token', 'updated_since'),
    'webhooks': ('created_since', 'fields', 'ids[]', 'limit', 'order', 'page_token', 'updated_since'),
    'activity_descriptions': ('created_since', 'fields', 'flat_rate', 'ids[]', 'limit', 'page_token', 'rate_for[matter_id]', 'rate_for[user_id]', 'type', 'updated_since', 'user_id'),
}
